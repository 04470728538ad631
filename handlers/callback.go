package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// callback completes the sign-in and starts a new session (a new ID: never the one the browser
// came with).
func (s *server) callback(c echo.Context) error {
	ctx := c.Request().Context()
	binding := ""
	if ck, err := c.Cookie(s.Sessions.LoginCookieName()); err == nil {
		binding = ck.Value
	}
	done, err := s.SignIn.Complete(ctx, binding, c.QueryParams())
	if err != nil {
		s.Metrics.SignIn("refused")
		return err
	}
	if old, ok := sessionOf(c); ok {
		if err := s.Sessions.Delete(ctx, old.IDHash); err != nil {
			return err
		}
	}
	raw, sess, err := s.Sessions.Create(ctx, done.Identity, done.Token)
	if err != nil {
		return err
	}
	c.SetCookie(s.Sessions.SessionCookie(raw))
	s.Metrics.SignIn("succeeded")
	s.Logger.Info("signed in", "request_id", requestIDOf(c), "tid", sess.Identity.TenantID, "oid", sess.Identity.ObjectID, "roles", sess.Identity.Roles)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, done.ReturnTo)
}
