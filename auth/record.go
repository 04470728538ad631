package auth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/depportal/depportal/audit"
)

// Auditor records what happens; *audit.Trail implements it. Append returns only once the
// record is durable; an error means nothing was recorded.
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Actor is who an identity is, as the audit trail records it.
func (id Identity) Actor() audit.Actor {
	return audit.Actor{TenantID: id.TenantID, ObjectID: id.ObjectID, Name: id.Name, UPN: id.Username}
}

// Callback is the provider's redirect back, as the browser brought it.
type Callback struct {
	Binding   string     // the browser's login cookie
	Query     url.Values // the redirect's query
	Client    audit.Client
	RequestID string
	// Replaces is the session the browser came with, if any: it ends, never reused.
	Replaces string
}

// Started is a session begun by a completed sign-in.
type Started struct {
	Cookie   string // the session cookie's value
	Session  Session
	ReturnTo string
}

// Start completes a sign-in and begins its session, recording it first: no signin.succeeded
// record, no session (everything after it would be unattributable). A refusal on a sign-in
// this browser started is recorded as signin.refused; one that is not (a forged or replayed
// redirect) is only returned, for the log. The error is a *SignInError for every refusal, and
// wraps audit.ErrUnavailable when the trail refused the sign-in's record.
func (s *Sessions) Start(ctx context.Context, flow *SignIn, cb Callback) (Started, error) {
	if s.cfg.Audit == nil {
		return Started{}, fmt.Errorf("%w: sessions have no audit trail", audit.ErrUnavailable)
	}
	done, err := flow.Complete(ctx, cb.Binding, cb.Query)
	var refused *SignInError
	if errors.As(err, &refused) && refused.Transaction {
		e := audit.Entry{Type: audit.SignInRefused, Client: cb.Client, RequestID: cb.RequestID, Reason: string(refused.Reason)}
		if refused.Code != "" {
			e.Reason += ": " + refused.Code
		}
		if refused.AADSTS != "" {
			e.Reason += " AADSTS" + refused.AADSTS
		}
		if _, aerr := s.cfg.Audit.Append(ctx, e); aerr != nil {
			// The refusal stands either way; the caller logs it with this error.
			return Started{}, errors.Join(err, audit.Unrecorded(aerr))
		}
	}
	if err != nil {
		return Started{}, err
	}
	if cb.Replaces != "" {
		if err := s.Delete(ctx, cb.Replaces); err != nil {
			return Started{}, fmt.Errorf("end the previous session: %w", err)
		}
	}
	raw, sess, err := s.Create(ctx, done.Identity, done.Token)
	if err != nil {
		return Started{}, err
	}
	reason := "roles: " + strings.Join(sess.Identity.Roles, ",")
	if sess.Identity.Guest {
		// A B2B guest acts in this tenant with an account another organisation vouches for.
		reason += "; guest account"
		if sess.Identity.HomeIdP != "" {
			reason += ", home identity provider " + limit(sess.Identity.HomeIdP, 200)
		}
	}
	e := audit.Entry{Type: audit.SignInSucceeded, Actor: sess.Identity.Actor(), Client: cb.Client, RequestID: cb.RequestID,
		Reason: reason}
	if _, err := s.cfg.Audit.Append(ctx, e); err != nil {
		err = audit.Unrecorded(err)
		if derr := s.Delete(context.WithoutCancel(ctx), sess.IDHash); derr != nil {
			err = errors.Join(err, fmt.Errorf("and the unrecorded session could not be deleted: %w", derr))
		}
		return Started{}, err
	}
	return Started{Cookie: raw, Session: sess, ReturnTo: done.ReturnTo}, nil
}

// Denial is a signed-in person refused a route for want of a role.
type Denial struct {
	Session   Session
	Route     string // "GET /audit"
	Reason    string // the role missing, in words
	Client    audit.Client
	RequestID string
}

// RecordDenied writes access.denied. The refusal stands whether or not it could be recorded.
func (s *Sessions) RecordDenied(ctx context.Context, d Denial) error {
	if s.cfg.Audit == nil {
		return fmt.Errorf("%w: sessions have no audit trail", audit.ErrUnavailable)
	}
	if _, err := s.cfg.Audit.Append(ctx, audit.Entry{Type: audit.AccessDenied, Actor: d.Session.Identity.Actor(),
		Client: d.Client, RequestID: d.RequestID, Route: d.Route, Reason: d.Reason}); err != nil {
		return audit.Unrecorded(err)
	}
	return nil
}
