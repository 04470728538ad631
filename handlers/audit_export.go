package handlers

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
)

// auditExport streams the filtered records as CSV or JSON lines. The export is itself an
// audited event, recorded before the first byte leaves: no record, no export.
func (s *server) auditExport(c echo.Context) error {
	sess, _ := sessionOf(c)
	format := c.QueryParam("format")
	contentType := map[string]string{"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}[format]
	if contentType == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "format must be csv or jsonl")
	}
	f, vf, _, err := s.auditFilter(c, sess)
	if err != nil {
		return err
	}
	e := s.auditEntry(c, audit.AuditExported)
	e.Reason = fmt.Sprintf("format=%s from=%s to=%s actor=%s token=%s type=%s outcome=%s own_only=%t",
		format, vf.From, vf.To, f.ActorOID+f.ActorName, f.SettingID, f.Type, f.Outcome, !sess.Identity.HasRole(s.roles.Auditor))
	if _, err := s.Audit.Append(c.Request().Context(), e); err != nil {
		return errAuditDown(err)
	}
	from, to := vf.From, vf.To
	if from == "" {
		from = "start"
	}
	if to == "" {
		to = s.Now().UTC().Format("2006-01-02")
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, contentType)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="depportal-audit_%s_%s.%s"`, from, to, format))
	h.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	if err := audit.Export(c.Request().Context(), s.AuditStore, c.Response(), format, f); err != nil {
		// Headers are gone; the truncated download is the signal, the log has the reason.
		s.Logger.Error("audit export interrupted", "request_id", requestIDOf(c), "err", err)
	}
	return nil
}
