package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
)

// callback completes the sign-in and starts a new session (a new ID: never the one the browser
// came with). auth records it before the session exists; a refusal that matches no sign-in
// this browser started is only logged (the /auth budget limits how often).
func (s *server) callback(c echo.Context) error {
	cb := auth.Callback{Query: c.QueryParams(), Client: clientOf(c), RequestID: requestIDOf(c)}
	if ck, err := c.Cookie(s.Sessions.LoginCookieName()); err == nil {
		cb.Binding = ck.Value
	}
	if old, ok := sessionOf(c); ok {
		cb.Replaces = old.IDHash
	}
	started, err := s.Sessions.Start(c.Request().Context(), s.SignIn, cb)
	var refused *auth.SignInError
	if errors.As(err, &refused) {
		if refused.Transaction {
			s.Metrics.SignIn(string(refused.Refusal()))
		}
		if refused.Refusal() == auth.RefusalClientCredential {
			// Every sign-in fails until an operator replaces the secret or certificate.
			s.Logger.Error("Entra ID refused the portal's client credential", "request_id", requestIDOf(c),
				"aadsts", refused.AADSTS, "trace_id", refused.TraceID, "correlation_id", refused.CorrelationID)
		}
		if errors.Is(err, audit.ErrUnavailable) {
			s.Logger.Error("audit signin.refused", "request_id", requestIDOf(c), "err", err)
		}
	}
	if err != nil {
		return err
	}
	sess := started.Session
	c.SetCookie(s.Sessions.SessionCookie(started.Cookie))
	s.Metrics.SignIn("succeeded")
	s.Logger.Info("signed in", "request_id", requestIDOf(c), "tid", sess.Identity.TenantID, "oid", sess.Identity.ObjectID, "roles", sess.Identity.Roles)
	return c.Redirect(http.StatusSeeOther, started.ReturnTo)
}
