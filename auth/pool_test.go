package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/secret"
)

// manySessions is more than the PostgreSQL pool holds (20), so a token path that needs two
// connections at once starves itself.
const manySessions = 60

// MustPostgresRig is the test rig on PostgreSQL, its pool at the size store.Open gives it.
func MustPostgresRig(tb testing.TB) *rig {
	tb.Helper()
	db, _ := testkit.MustPostgres(tb)
	op := newTestOP(tb)
	clock := &testClock{now: time.Now()}
	signIn, err := auth.NewSignIn(auth.SignInConfig{
		Issuer: op.issuer, TenantID: testTenant, ClientID: testClient, ClientSecret: "secret",
		RedirectURL: "http://localhost/auth/callback", GraphScope: "https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All",
		Now: clock.Now,
	}, db, sessionKey)
	if err != nil {
		tb.Fatal(err)
	}
	sessions, err := auth.NewSessions(auth.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 8 * time.Hour, Now: clock.Now}, db, sessionKey, signIn)
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{op: op, db: db, signIn: signIn, sessions: sessions, clock: clock}
}

// MustSessions creates n sessions of one signed-in person whose access tokens expire at expiry;
// each has its own refresh token, live at the provider. It returns the sessions and their
// refresh tokens.
func MustSessions(tb testing.TB, r *rig, n int, expiry time.Time) ([]auth.Session, []string) {
	tb.Helper()
	done := MustLogin(tb, r)
	sessions := make([]auth.Session, n)
	refresh := make([]string, n)
	for i := range n {
		refresh[i] = fmt.Sprintf("rt-seed-%d", i)
		r.op.mu.Lock()
		r.op.refresh[refresh[i]] = true
		r.op.mu.Unlock()
		tok := &oauth2.Token{AccessToken: fmt.Sprintf("at-seed-%d", i), RefreshToken: refresh[i], Expiry: expiry}
		_, sess, err := r.sessions.Create(context.Background(), done.Identity, tok)
		if err != nil {
			tb.Fatal(err)
		}
		sessions[i] = sess
	}
	return sessions, refresh
}

// accessAll asks for every session's Graph token at once, under one deadline, and returns the
// tokens, the errors and how long it took.
func accessAll(r *rig, sessions []auth.Session, deadline time.Duration) ([]string, []error, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	tokens := make([]string, len(sessions))
	errs := make([]error, len(sessions))
	start := time.Now()
	var wg sync.WaitGroup
	for i, sess := range sessions {
		wg.Go(func() { tokens[i], errs[i] = r.sessions.Delegated(sess).AccessToken(ctx) })
	}
	wg.Wait()
	return tokens, errs, time.Since(start)
}

func failures(tb testing.TB, errs []error) int {
	tb.Helper()
	n := 0
	for i, err := range errs {
		if err != nil {
			if n < 3 {
				tb.Errorf("session %d: %v", i, err)
			}
			n++
		}
	}
	return n
}

// TestFreshTokensNeedNoLock: a fresh access token is read and handed out without taking any
// lock, so many sessions asking at once (more than the pool has connections) all get theirs.
func TestFreshTokensNeedNoLock(t *testing.T) {
	t.Parallel()
	r := MustPostgresRig(t)
	sessions, _ := MustSessions(t, r, manySessions, r.clock.Now().Add(time.Hour))

	tokens, errs, took := accessAll(r, sessions, 5*time.Second)
	t.Logf("%d fresh-token calls on %d sessions: %v", len(sessions), len(sessions), took)
	if n := failures(t, errs); n > 0 {
		t.Fatalf("%d of %d calls failed after %v", n, len(sessions), took)
	}
	for i, tok := range tokens {
		if want := fmt.Sprintf("at-seed-%d", i); tok != want {
			t.Errorf("session %d: token %q, want the stored %q", i, tok, want)
		}
	}
	if r.op.refreshed != 0 {
		t.Errorf("refreshed %d times, want none: every token was fresh", r.op.refreshed)
	}
}

// TestExpiredTokensRefreshConcurrently: every session's access token has expired, so every call
// refreshes; each refresh needs one connection only, and each saves its rotated refresh token.
func TestExpiredTokensRefreshConcurrently(t *testing.T) {
	t.Parallel()
	r := MustPostgresRig(t)
	sessions, seeds := MustSessions(t, r, manySessions, r.clock.Now().Add(-time.Minute))

	tokens, errs, took := accessAll(r, sessions, 10*time.Second)
	t.Logf("%d refreshing calls on %d sessions: %v", len(sessions), len(sessions), took)
	if n := failures(t, errs); n > 0 {
		t.Fatalf("%d of %d calls failed after %v", n, len(sessions), took)
	}
	if r.op.refreshed != len(sessions) {
		t.Errorf("refreshed %d times, want %d (one per session)", r.op.refreshed, len(sessions))
	}
	sealer, err := secret.NewSealer(sessionKey, "graph-tokens")
	if err != nil {
		t.Fatal(err)
	}
	for i, sess := range sessions {
		rec, err := r.db.Session(context.Background(), sess.IDHash)
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		plain, err := sealer.Open(rec.Tokens, []byte(sess.IDHash))
		if err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		var st struct {
			AT string `json:"at"`
			RT string `json:"rt"`
		}
		if err := json.Unmarshal(plain, &st); err != nil {
			t.Fatal(err)
		}
		r.op.mu.Lock()
		live := r.op.refresh[st.RT]
		r.op.mu.Unlock()
		if st.RT == seeds[i] || !live {
			t.Errorf("session %d stores refresh token %q (seed %q, live %v): the rotated one was not saved", i, st.RT, seeds[i], live)
		}
		if st.AT != tokens[i] {
			t.Errorf("session %d stores access token %q, handed out %q", i, st.AT, tokens[i])
		}
	}
}
