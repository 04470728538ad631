package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// logout deletes the server-side session first (the cookie is then worthless even if kept),
// then sends the browser to the provider's end-session endpoint, naming the account with
// logout_hint so that Entra signs it out without showing an account picker.
func (s *server) logout(c echo.Context) error {
	sess, ok := sessionOf(c)
	if ok {
		if err := s.Sessions.Delete(c.Request().Context(), sess.IDHash); err != nil {
			return err
		}
		s.Logger.Info("signed out", "request_id", requestIDOf(c), "oid", sess.Identity.ObjectID)
	}
	c.SetCookie(s.Sessions.SessionCookie(""))
	target := s.SignIn.EndSessionURL(sess.Identity.LoginHint)
	if target == "" {
		target = "/signed-out"
	}
	return c.Redirect(http.StatusSeeOther, target)
}
