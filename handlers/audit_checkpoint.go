package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// auditCheckpoint lets an auditor verify the records since the last checkpoint and sign a new
// one now, instead of waiting for the hundredth record or the hour.
func (s *server) auditCheckpoint(c echo.Context) error {
	cp, err := s.Audit.Checkpoint(c.Request().Context())
	if err != nil {
		return err
	}
	s.Logger.Info("audit checkpoint on request", "request_id", requestIDOf(c), "size", cp.Size)
	return c.Redirect(http.StatusSeeOther, "/audit")
}
