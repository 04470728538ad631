package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
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
	var refused *auth.SignInError
	if errors.As(err, &refused) {
		s.Metrics.SignIn("refused")
		e := s.auditEntry(c, audit.SignInRefused)
		e.Reason = string(refused.Reason)
		if refused.Detail != "" {
			e.Reason += ": " + refused.Detail
		}
		if _, aerr := s.Audit.Append(ctx, e); aerr != nil {
			s.Logger.Error("audit signin.refused", "request_id", requestIDOf(c), "err", aerr)
		}
	}
	if err != nil {
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
	e := s.auditEntry(c, audit.SignInSucceeded)
	e.Actor = actorOf(sess.Identity)
	e.Reason = "roles: " + strings.Join(sess.Identity.Roles, ",")
	if _, err := s.Audit.Append(ctx, e); err != nil {
		// No record of the sign-in, no session: everything after it would be unattributable.
		s.Sessions.Delete(ctx, sess.IDHash)
		return errAuditDown(err)
	}
	c.SetCookie(s.Sessions.SessionCookie(raw))
	s.Metrics.SignIn("succeeded")
	s.Logger.Info("signed in", "request_id", requestIDOf(c), "tid", sess.Identity.TenantID, "oid", sess.Identity.ObjectID, "roles", sess.Identity.Roles)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Redirect(http.StatusSeeOther, done.ReturnTo)
}
