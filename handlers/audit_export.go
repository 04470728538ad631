package handlers

import (
	"fmt"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
)

// auditExport streams the filtered records as CSV or JSON lines. The trail records the export
// before the first byte leaves: no record, no export.
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
	by := s.auditEntry(c, audit.AuditExported)
	by.Reason = fmt.Sprintf("format=%s from=%s to=%s actor=%s token=%s type=%s outcome=%s own_only=%t",
		format, vf.From, vf.To, f.ActorOID+f.ActorName, f.SettingID, f.Type, f.Outcome, !sess.Identity.HasRole(s.roles.Auditor))
	from, to := vf.From, vf.To
	if from == "" {
		from = "start"
	}
	if to == "" {
		to = s.Now().UTC().Format("2006-01-02")
	}
	started := false
	err = s.Audit.ExportRecorded(c.Request().Context(), by, format, f, func() io.Writer {
		started = true
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, contentType)
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="depportal-audit_%s_%s.%s"`, from, to, format))
		c.Response().WriteHeader(http.StatusOK)
		return c.Response()
	})
	if err != nil && started {
		// Headers are gone; the truncated download is the signal, the log has the reason.
		s.Logger.Error("audit export interrupted", "request_id", requestIDOf(c), "err", err)
		return nil
	}
	return err
}
