package auth_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
)

// memAuditor keeps entries in memory and can refuse them.
type memAuditor struct {
	mu      sync.Mutex
	entries []audit.Entry
	refuse  bool
}

func (a *memAuditor) Append(_ context.Context, e audit.Entry) (audit.Record, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refuse {
		return audit.Record{}, errors.New("disk full")
	}
	a.entries = append(a.entries, e)
	return audit.Record{Seq: int64(len(a.entries)), Entry: e}, nil
}

func (a *memAuditor) types() []audit.EventType {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []audit.EventType
	for _, e := range a.entries {
		out = append(out, e.Type)
	}
	return out
}

// MustRecordingSessions is the rig's sessions with an audit trail in memory.
func MustRecordingSessions(tb testing.TB, r *rig) (*auth.Sessions, *memAuditor) {
	tb.Helper()
	a := &memAuditor{}
	s, err := auth.NewSessions(auth.SessionConfig{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 8 * time.Hour, Now: r.clock.Now, Audit: a}, r.db, sessionKey, r.signIn)
	if err != nil {
		tb.Fatal(err)
	}
	return s, a
}

// callback runs Begin and the provider's authorize step, and returns the redirect back.
func (r *rig) callback(tb testing.TB, binding string) auth.Callback {
	tb.Helper()
	authURL, err := r.signIn.Begin(context.Background(), binding, "/settings/42")
	if err != nil {
		tb.Fatal(err)
	}
	code, state, _ := r.op.authorize(authURL)
	return auth.Callback{Binding: binding, Query: url.Values{"code": {code}, "state": {state}}, Client: audit.Client{IP: "192.0.2.1"}, RequestID: "req-1"}
}

func TestStartRecordsTheSignInBeforeTheSession(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	sessions, rec := MustRecordingSessions(t, r)
	started, err := sessions.Start(context.Background(), r.signIn, r.callback(t, "b"))
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.types(); !slices.Equal(got, []audit.EventType{audit.SignInSucceeded}) {
		t.Fatalf("records %v", got)
	}
	e := rec.entries[0]
	if e.Actor.ObjectID != started.Session.Identity.ObjectID || e.Client.IP != "192.0.2.1" || e.RequestID != "req-1" || started.ReturnTo != "/settings/42" {
		t.Errorf("record %+v, started %+v", e, started)
	}
	if _, err := sessions.Load(context.Background(), started.Cookie); err != nil {
		t.Errorf("the session does not work: %v", err)
	}
}

func TestNoRecordNoSession(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	sessions, rec := MustRecordingSessions(t, r)
	rec.refuse = true
	_, err := sessions.Start(context.Background(), r.signIn, r.callback(t, "b"))
	if !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	var n int
	r.db.SQL().QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&n)
	if n != 0 {
		t.Errorf("%d sessions kept without a sign-in record", n)
	}
}

// Only a refusal on a sign-in this browser started becomes a record, and it keeps the error
// code and the AADSTS number, never the description's free text.
func TestOnlyRealRefusalsAreRecorded(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	sessions, rec := MustRecordingSessions(t, r)
	for i := range 50 {
		q := url.Values{"error": {"access_denied"}, "error_description": {"FORGED record"}, "state": {"made-up-" + string(rune('a'+i%26))}}
		if _, err := sessions.Start(context.Background(), r.signIn, auth.Callback{Binding: "x", Query: q}); err == nil {
			t.Fatal("a forged refusal signed someone in")
		}
	}
	if got := rec.types(); len(got) != 0 {
		t.Fatalf("forged refusals recorded: %v", got)
	}
	cb := r.callback(t, "b")
	cb.Query = url.Values{"state": cb.Query["state"], "error": {"access_denied"}, "error_description": {"AADSTS50105: FORGED text"}}
	if _, err := sessions.Start(context.Background(), r.signIn, cb); err == nil {
		t.Fatal("a refusal signed someone in")
	}
	if got := rec.types(); !slices.Equal(got, []audit.EventType{audit.SignInRefused}) {
		t.Fatalf("records %v", got)
	}
	if reason := rec.entries[0].Reason; strings.Contains(reason, "FORGED") || !strings.Contains(reason, "access_denied") || !strings.Contains(reason, "AADSTS50105") {
		t.Errorf("reason %q", reason)
	}
}
