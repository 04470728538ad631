package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/entra"
	"github.com/depportal/depportal/renewal"
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
		cs.Text = fmt.Sprintf("Hash chain checked at %s, when the trail was empty. Records since are checked at the next signed checkpoint (every 100 records, at least hourly).",
			renewal.DayTime(st.At))
	case st.Intact:
		cs.Text = fmt.Sprintf("Hash chain verified at %s: the %d records up to then are intact. Newer records are checked at the next signed checkpoint (every 100 records, at least hourly).",
			renewal.DayTime(st.At), st.Size)
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
		Outcomes:   outcomeOptions(),
	}
	v.CanCheckpoint = sess.Identity.HasRole(s.roles.Auditor)
	v.CSRFToken = sess.CSRFToken
	for _, t := range audit.EventTypes {
		v.EventTypes = append(v.EventTypes, views.Option{Value: string(t), Label: eventWords(t)})
	}
	v.Tokens = s.tokenOptions(c, sess)
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

// eventWords names an event type as a person would: the audit trail is read by people.
func eventWords(t audit.EventType) string {
	switch t {
	case audit.SignInSucceeded:
		return "Signed in"
	case audit.SignInRefused:
		return "Sign-in refused"
	case audit.AccessDenied:
		return "Access refused"
	case audit.UploadReviewed:
		return "File checked"
	case audit.UploadIntent:
		return "Renewal sent"
	case audit.UploadSucceeded:
		return "Token renewed"
	case audit.UploadFailed:
		return "Not renewed"
	case audit.UploadUnknown:
		return "Renewal outcome not known"
	case audit.UploadReconciled:
		return "Token read back after renewal"
	case audit.PublicKeyDownloaded:
		return "Public key downloaded"
	case audit.AuditExported:
		return "Audit trail exported"
	case audit.ReminderSent:
		return "Reminder sent"
	case audit.SyncRequested:
		return "Sync with Apple asked for"
	case audit.SyncAnswered:
		return "Intune's answer to a sync"
	}
	return string(t)
}

func outcomeWords(o audit.Outcome) string {
	switch o {
	case audit.Success:
		return "Succeeded"
	case audit.Failure:
		return "Failed"
	case audit.Unknown:
		return "Not known"
	case audit.Pending:
		return "Outcome follows"
	}
	return string(o)
}

func outcomeOptions() []views.Option {
	var out []views.Option
	for _, o := range []audit.Outcome{audit.Success, audit.Failure, audit.Unknown, audit.Pending} {
		out = append(out, views.Option{Value: string(o), Label: outcomeWords(o)})
	}
	return out
}

// tokenOptions lets the token filter be picked by name, from the tokens Intune shows this
// person; none when they cannot be listed (an auditor without an Intune role), and the filter
// then takes a token ID.
func (s *server) tokenOptions(c echo.Context, sess auth.Session) []views.Option {
	settings, err := s.Intune.ListOnboardingSettings(c.Request().Context(), s.Sessions.Delegated(sess))
	if err != nil {
		return nil
	}
	var out []views.Option
	for _, st := range settings {
		name := st.TokenName
		if name == "" {
			name = st.ID
		}
		out = append(out, views.Option{Value: st.ID, Label: name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out
}

func auditRow(r audit.Record) views.AuditRow {
	row := views.AuditRow{
		Seq:     r.Seq,
		Time:    dateTimeOrNever(r.Time),
		Event:   eventWords(r.Type),
		Outcome: string(r.Outcome),
		Result:  outcomeWords(r.Outcome),
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
		row.Summary = fmt.Sprintf("Intune answered %s (request %s)", statusText(r.Graph.Status), r.Graph.RequestID)
	case r.AppleID != "":
		row.Summary = "Apple ID " + r.AppleID
	case r.Route != "":
		row.Summary = r.Route
	}
	return row
}
