package handlers

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/renewal"
)

// actorOf is who an identity is, as the audit trail records it.
func actorOf(id auth.Identity) audit.Actor {
	return audit.Actor{TenantID: id.TenantID, ObjectID: id.ObjectID, Name: id.Name, UPN: id.Username}
}

func clientOf(c echo.Context) audit.Client {
	return audit.Client{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}

// auditEntry starts an audit entry with who, from where and which request.
func (s *server) auditEntry(c echo.Context, t audit.EventType) audit.Entry {
	e := audit.Entry{Type: t, Client: clientOf(c), RequestID: requestIDOf(c)}
	if sess, ok := sessionOf(c); ok {
		e.Actor = actorOf(sess.Identity)
	}
	return e
}

// renewalSession is the session as the renewal use case needs it.
func (s *server) renewalSession(c echo.Context) renewal.Session {
	sess, _ := sessionOf(c)
	return renewal.Session{
		Hash:        sess.IDHash,
		Credentials: s.Sessions.Delegated(sess),
		Actor:       actorOf(sess.Identity),
		Client:      clientOf(c),
		RequestID:   requestIDOf(c),
	}
}

// errAuditDown: the trail refused a record, so the step it records was not taken.
func errAuditDown(err error) error {
	return fmt.Errorf("%w: %w", renewal.ErrAuditUnavailable, err)
}

// recordDenied writes access.denied; a failure is logged, the refusal stands either way.
func (s *server) recordDenied(c echo.Context, role string) {
	e := s.auditEntry(c, audit.AccessDenied)
	e.Route = c.Request().Method + " " + routeOf(c)
	e.Reason = "missing app role " + role
	if role == "" {
		e.Reason = "no portal role (needs " + s.roles.Uploader + " or " + s.roles.Auditor + ")"
	}
	if _, err := s.Audit.Append(c.Request().Context(), e); err != nil {
		s.Logger.Error("audit access.denied", "request_id", requestIDOf(c), "err", err)
	}
}
