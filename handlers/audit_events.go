package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/renewal"
)

func clientOf(c echo.Context) audit.Client {
	return audit.Client{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}

// auditEntry starts an audit entry with who, from where and which request.
func (s *server) auditEntry(c echo.Context, t audit.EventType) audit.Entry {
	e := audit.Entry{Type: t, Client: clientOf(c), RequestID: requestIDOf(c)}
	if sess, ok := sessionOf(c); ok {
		e.Actor = sess.Identity.Actor()
	}
	return e
}

// renewalSession is the session as the renewal use case needs it.
func (s *server) renewalSession(c echo.Context) renewal.Session {
	sess, _ := sessionOf(c)
	return renewal.Session{
		Hash:        sess.IDHash,
		Credentials: s.Sessions.Delegated(sess),
		Actor:       sess.Identity.Actor(),
		Client:      clientOf(c),
		RequestID:   requestIDOf(c),
	}
}

// recordDenied has auth record access.denied; a failure is logged, the refusal stands either way.
func (s *server) recordDenied(c echo.Context, role string) {
	sess, _ := sessionOf(c)
	reason := "missing app role " + role
	if role == "" {
		reason = "no portal role (needs " + s.roles.Uploader + " or " + s.roles.Auditor + ")"
	}
	err := s.Sessions.RecordDenied(c.Request().Context(), auth.Denial{Session: sess, Route: c.Request().Method + " " + routeOf(c),
		Reason: reason, Client: clientOf(c), RequestID: requestIDOf(c)})
	if err != nil {
		s.Logger.Error("audit access.denied", "request_id", requestIDOf(c), "err", err)
	}
}
