package handlers

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/renewal"
)

// What came of a sync, as the token page's ?sync= says it.
const (
	syncAsked   = "asked"
	syncTooSoon = "too-soon"
	syncUnknown = "unknown"
)

// syncWithApple asks Intune to sync a token's devices with Apple now, with the person's own
// sign-in, then shows the token's page with what came of it (Post/Redirect/Get: a reload does
// not ask again). Intune allows one manual sync every 15 minutes.
func (s *server) syncWithApple(c echo.Context) error {
	id := c.Param("id")
	err := s.Renewals.SyncWithApple(c.Request().Context(), s.renewalSession(c), id)
	var soon *renewal.SyncTooSoonError
	outcome := syncAsked
	switch {
	case err == nil:
	case errors.As(err, &soon):
		outcome = syncTooSoon
	case graph.ClassOf(err) == graph.ClassOutcomeUnknown:
		// A sync only reads from Apple: not knowing whether it started is harmless.
		outcome = syncUnknown
	default:
		return &inSetting{ID: id, Err: err}
	}
	return c.Redirect(http.StatusSeeOther, "/settings/"+url.PathEscape(id)+"?sync="+outcome)
}
