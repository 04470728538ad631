package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/entra"
	"github.com/depportal/depportal/views"
)

const auditPageSize = 50

// auditFilter reads the filter from the query. Uploaders without the auditor role see only
// their own records, whatever they ask for.
func (s *server) auditFilter(c echo.Context, sess auth.Session) (audit.Filter, views.AuditFilter, bool, error) {
	q := c.QueryParams()
	vf := views.AuditFilter{From: q.Get("from"), To: q.Get("to"), Actor: q.Get("actor"), Token: q.Get("token"), Type: q.Get("type"), Outcome: q.Get("outcome")}
	var f audit.Filter
	if err := f.SetDays(vf.From, vf.To); err != nil {
		return f, vf, false, echo.NewHTTPError(http.StatusBadRequest, err.Error())
	}
	f.SettingID = strings.TrimSpace(vf.Token)
	f.Type = audit.EventType(vf.Type)
	f.Outcome = audit.Outcome(vf.Outcome)
	ownOnly := !sess.Identity.HasRole(s.roles.Auditor)
	if ownOnly {
		f.ActorOID = sess.Identity.ObjectID
		vf.Actor = ""
	} else if a := strings.TrimSpace(vf.Actor); a != "" {
		if entra.IsGUID(a) {
			f.ActorOID = strings.ToLower(a)
		} else {
			f.ActorName = a
		}
	}
	return f, vf, ownOnly, nil
}

func (s *server) chainStatus() views.ChainStatus {
	st := s.Audit.LastVerified()
	cs := views.ChainStatus{Checked: st.Checked, Intact: st.Intact}
	switch {
	case !st.Checked:
	case st.Intact && st.Size == 0:
		cs.Text = fmt.Sprintf("Hash chain checked at %s UTC, when the trail was empty. Records since are checked at the next signed checkpoint (every 100 records, at least hourly).",
			st.At.UTC().Format("2006-01-02 15:04"))
	case st.Intact:
		cs.Text = fmt.Sprintf("Hash chain verified at %s UTC: the %d records up to then are intact. Newer records are checked at the next signed checkpoint (every 100 records, at least hourly).",
			st.At.UTC().Format("2006-01-02 15:04"), st.Size)
	default:
		cs.Text = "The hash chain did NOT verify: " + st.Problem.String() + ". Tell your security team; run depportal audit verify."
	}
	return cs
}

// auditList shows the trail, newest first, with filters and keyset paging.
func (s *server) auditList(c echo.Context) error {
	sess, _ := sessionOf(c)
	f, vf, ownOnly, err := s.auditFilter(c, sess)
	if err != nil {
		return err
	}
	before, _ := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	records, next, err := s.Audit.Query(c.Request().Context(), f, auditPageSize, before)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	q.Del("before")
	v := views.AuditList{
		OwnOnly:    ownOnly,
		Filter:     vf,
		Chain:      s.chainStatus(),
		ExportCSV:  "/audit/export?" + withParam(q, "format", "csv"),
		ExportJSON: "/audit/export?" + withParam(q, "format", "jsonl"),
		Outcomes:   []string{string(audit.Success), string(audit.Failure), string(audit.Unknown), string(audit.Pending)},
	}
	v.CanCheckpoint = sess.Identity.HasRole(s.roles.Auditor)
	v.CSRFToken = sess.CSRFToken
	for _, t := range audit.EventTypes {
		v.EventTypes = append(v.EventTypes, string(t))
	}
	if next != 0 {
		v.OlderHref = "/audit?" + withParam(q, "before", strconv.FormatInt(next, 10))
	}
	for _, r := range records {
		v.Records = append(v.Records, auditRow(r))
	}
	return render(c, http.StatusOK, views.AuditListPage(s.page(c, "Audit trail"), v))
}

func withParam(q url.Values, k, v string) string {
	out := url.Values{}
	for key, vals := range q {
		if key != k {
			out[key] = vals
		}
	}
	out.Set(k, v)
	return out.Encode()
}

func auditRow(r audit.Record) views.AuditRow {
	row := views.AuditRow{
		Seq:     r.Seq,
		Time:    r.Time.UTC().Format("2006-01-02 15:04:05"),
		Type:    string(r.Type),
		Outcome: string(r.Outcome),
		Actor:   r.Actor.Name,
		Token:   r.Setting.Name,
		Href:    "/audit/" + strconv.FormatInt(r.Seq, 10),
	}
	if row.Actor == "" {
		row.Actor = r.Actor.UPN
	}
	switch {
	case r.Reason != "":
		row.Summary = r.Reason
	case r.Graph.Status != 0:
		row.Summary = fmt.Sprintf("Graph %d, request %s", r.Graph.Status, r.Graph.RequestID)
	case r.AppleID != "":
		row.Summary = "Apple ID " + r.AppleID
	case r.Route != "":
		row.Summary = r.Route
	}
	return row
}
