package handlers

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/views"
)

// auditDetail shows one record with every field. Uploaders may open only their own.
func (s *server) auditDetail(c echo.Context) error {
	sess, _ := sessionOf(c)
	seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || seq <= 0 {
		return echo.ErrNotFound
	}
	f := audit.Filter{}
	if !sess.Identity.HasRole(s.roles.Auditor) {
		f.ActorOID = sess.Identity.ObjectID
	}
	records, _, err := s.Audit.Query(c.Request().Context(), f, 1, seq+1)
	if err != nil {
		return err
	}
	if len(records) == 0 || records[0].Seq != seq {
		return echo.ErrNotFound
	}
	r := records[0]
	at := views.When{At: r.Time.UTC().Format(time.RFC3339Nano), Text: r.Time.UTC().Format("2 Jan 2006 15:04:05.000000 UTC"), Style: "datetime"}
	facts := []views.Fact{
		{Label: "Sequence", Value: strconv.FormatInt(r.Seq, 10)},
		{Label: "Time", Value: at.Text, When: &at},
		{Label: "Event", Value: eventWords(r.Type) + " (" + string(r.Type) + ")"},
		{Label: "Outcome", Value: outcomeWords(r.Outcome)},
		{Label: "Person", Value: r.Actor.Name},
		{Label: "UPN as shown", Value: r.Actor.UPN},
		{Label: "Tenant ID", Value: r.Actor.TenantID},
		{Label: "Object ID", Value: r.Actor.ObjectID},
		{Label: "Client IP", Value: r.Client.IP},
		{Label: "User agent", Value: r.Client.UserAgent},
		{Label: "Portal request ID", Value: r.RequestID},
		{Label: "Token", Value: r.Setting.Name},
		{Label: "Token ID", Value: r.Setting.ID},
		{Label: "Apple ID", Value: r.AppleID},
		{Label: "File SHA-256", Value: r.Token.SHA256},
		{Label: "Encrypted to", Value: r.Token.Recipient},
		{Label: "Graph status", Value: statusText(r.Graph.Status)},
		{Label: "Graph error code", Value: r.Graph.Code},
		{Label: "Graph request ID", Value: r.Graph.RequestID},
		{Label: "Client request ID", Value: r.Graph.ClientRequestID},
		{Label: "Activity ID", Value: r.Graph.ActivityID},
		{Label: "Reason", Value: r.Reason},
		{Label: "Route", Value: r.Route},
		{Label: "Previous hash", Value: r.PrevHash.String()},
		{Label: "Hash", Value: r.Hash.String()},
	}
	if r.DurationMS > 0 {
		facts = append(facts, views.Fact{Label: "Duration", Value: strconv.FormatInt(r.DurationMS, 10) + " ms"})
	}
	if r.IntentSeq > 0 {
		label := "Intent record"
		if r.Type == audit.SyncAnswered {
			label = "Answers record"
		}
		facts = append(facts, views.Fact{Label: label, Value: "#" + strconv.FormatInt(r.IntentSeq, 10)})
	}
	var shown []views.Fact
	for _, f := range facts {
		if f.Value != "" {
			shown = append(shown, f)
		}
	}
	v := views.AuditDetail{Seq: r.Seq, Event: eventWords(r.Type), Chain: s.chainStatus(), Fields: shown}
	// The renewal's own page, while it is kept (a day): what the person was told.
	intentSeq := r.IntentSeq
	switch r.Type {
	case audit.UploadIntent:
		intentSeq = r.Seq
	case audit.SyncAnswered:
		intentSeq = 0 // a sync has no renewal page
	}
	if intentSeq > 0 {
		if up, err := s.Renewals.UploadByIntent(c.Request().Context(), intentSeq); err == nil {
			v.UploadHref = "/uploads/" + up.ID
		}
	}
	for _, vd := range r.Verdicts {
		v.Checks = append(v.Checks, views.Check{Title: renewal.CheckName(vd.Check), Verdict: string(vd.Result), Message: vd.Message})
	}
	return render(c, http.StatusOK, views.AuditDetailPage(s.page(c, "Audit record"), v))
}
