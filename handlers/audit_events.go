package handlers

import (
	"fmt"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/renewal"
)

// auditEntry starts an audit entry with who, from where and which request.
func (s *server) auditEntry(c echo.Context, t audit.EventType) audit.Entry {
	e := audit.Entry{
		Type:      t,
		Client:    audit.Client{IP: c.RealIP(), UserAgent: c.Request().UserAgent()},
		RequestID: requestIDOf(c),
	}
	if sess, ok := sessionOf(c); ok {
		e.Actor = audit.Actor{TenantID: sess.Identity.TenantID, ObjectID: sess.Identity.ObjectID, Name: sess.Identity.Name, UPN: sess.Identity.Username}
	}
	return e
}

// renewalSession is the session as the renewal use case needs it.
func (s *server) renewalSession(c echo.Context) renewal.Session {
	sess, _ := sessionOf(c)
	e := s.auditEntry(c, "")
	return renewal.Session{
		Hash:        sess.IDHash,
		Credentials: s.Sessions.Delegated(sess),
		Actor:       e.Actor,
		Client:      e.Client,
		RequestID:   e.RequestID,
	}
}

// errAuditDown: the trail refused a record, so the step it records was not taken.
func errAuditDown(err error) error {
	return fmt.Errorf("%w: %w", renewal.ErrAuditUnavailable, err)
}

// recordDenied writes access.denied; a failure is logged, the refusal stands either way.
func (s *server) recordDenied(c echo.Context, role string) {
	e := s.auditEntry(c, audit.AccessDenied)
	e.Route = c.Request().Method + " " + c.Path()
	e.Reason = "missing app role " + role
	if role == "" {
		e.Reason = "no portal role (needs " + s.roles.Uploader + " or " + s.roles.Auditor + ")"
	}
	if _, err := s.Audit.Append(c.Request().Context(), e); err != nil {
		s.Logger.Error("audit access.denied", "request_id", requestIDOf(c), "err", err)
	}
}
