package auth_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/auth"
)

func MustSession(tb testing.TB, r *rig) (string, auth.Session) {
	tb.Helper()
	done := MustLogin(tb, r)
	raw, sess, err := r.sessions.Create(context.Background(), done.Identity, done.Token)
	if err != nil {
		tb.Fatal(err)
	}
	return raw, sess
}

func TestEverySignInGetsANewSessionID(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	raw1, s1 := MustSession(t, r)
	raw2, s2 := MustSession(t, r)
	if raw1 == raw2 || s1.IDHash == s2.IDHash {
		t.Fatal("two sign-ins share a session ID")
	}
	if len(raw1) < 43 {
		t.Errorf("session ID %d chars: want at least 256 bits", len(raw1))
	}
	if s1.IDHash == raw1 || strings.Contains(s1.IDHash, raw1) {
		t.Error("the stored key is the cookie value itself")
	}
}

func TestSessionStoreHoldsNoClearToken(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := MustLogin(t, r)
	if _, _, err := r.sessions.Create(context.Background(), done.Identity, done.Token); err != nil {
		t.Fatal(err)
	}
	var blob []byte
	if err := r.db.SQL().QueryRow(`SELECT tokens FROM sessions`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{done.Token.AccessToken, done.Token.RefreshToken} {
		if strings.Contains(string(blob), secret) {
			t.Errorf("token %q stored in the clear", secret)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	raw, _ := MustSession(t, r)
	ctx := context.Background()
	r.clock.Advance(29 * time.Minute)
	if _, err := r.sessions.Load(ctx, raw); err != nil {
		t.Fatalf("within idle limit: %v", err)
	}
	// Activity resets the idle clock.
	r.clock.Advance(29 * time.Minute)
	if _, err := r.sessions.Load(ctx, raw); err != nil {
		t.Fatalf("activity did not extend the session: %v", err)
	}
	r.clock.Advance(31 * time.Minute)
	if _, err := r.sessions.Load(ctx, raw); !errors.Is(err, auth.ErrSessionExpired) {
		t.Fatalf("after 31 idle minutes: %v, want ErrSessionExpired", err)
	}
	if _, err := r.sessions.Load(ctx, raw); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("expired session not deleted: %v", err)
	}
}

func TestAbsoluteTimeout(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	raw, _ := MustSession(t, r)
	ctx := context.Background()
	for elapsed := time.Duration(0); elapsed < 8*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
		r.clock.Advance(20 * time.Minute)
		if _, err := r.sessions.Load(ctx, raw); err != nil {
			t.Fatalf("busy session ended early at %s: %v", elapsed, err)
		}
	}
	r.clock.Advance(40 * time.Minute)
	if _, err := r.sessions.Load(ctx, raw); !errors.Is(err, auth.ErrSessionExpired) {
		t.Errorf("after 8h20m: %v, want ErrSessionExpired", err)
	}
}

func TestDeletedSessionNoLongerWorks(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	raw, sess := MustSession(t, r)
	ctx := context.Background()
	if err := r.sessions.Delete(ctx, sess.IDHash); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sessions.Load(ctx, raw); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("old cookie after logout: %v", err)
	}
}

func TestUnknownCookieIsNoSession(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for _, raw := range []string{"", "made-up", strings.Repeat("a", 500)} {
		if _, err := r.sessions.Load(context.Background(), raw); !errors.Is(err, auth.ErrNoSession) {
			t.Errorf("Load(%q) = %v", raw, err)
		}
	}
}

func TestCSRFToken(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	_, s1 := MustSession(t, r)
	_, s2 := MustSession(t, r)
	if !r.sessions.CheckCSRF(s1, s1.CSRFToken) {
		t.Error("own token refused")
	}
	if r.sessions.CheckCSRF(s1, s2.CSRFToken) || r.sessions.CheckCSRF(s1, "") || r.sessions.CheckCSRF(s1, s1.CSRFToken+"x") {
		t.Error("foreign, empty or altered token accepted")
	}
}

func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		s, err := auth.NewSessions(auth.SessionConfig{IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour, SecureCookies: secure}, nil, sessionKey, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*http.Cookie{s.SessionCookie("v"), s.LoginCookie("v")} {
			if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
				t.Errorf("secure=%v %s: HttpOnly %v SameSite %v Path %q Domain %q", secure, c.Name, c.HttpOnly, c.SameSite, c.Path, c.Domain)
			}
			if c.Secure != secure || strings.HasPrefix(c.Name, "__Host-") != secure {
				t.Errorf("secure=%v: cookie %s Secure=%v", secure, c.Name, c.Secure)
			}
		}
		if c := s.LoginCookie("v"); c.MaxAge != 600 {
			t.Errorf("login cookie lives %ds, want 600", c.MaxAge)
		}
		if c := s.SessionCookie(""); c.MaxAge >= 0 {
			t.Errorf("clearing cookie MaxAge = %d", c.MaxAge)
		}
	}
}

func TestDelegatedTokenRefreshesAndPersistsRotation(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	_, sess := MustSession(t, r)
	cred := r.sessions.Delegated(sess)

	first, err := cred.AccessToken(ctx)
	if err != nil || first == "" {
		t.Fatalf("AccessToken: %q %v", first, err)
	}
	// Near expiry: the next call refreshes.
	r.clock.Advance(59 * time.Minute)
	second, err := cred.AccessToken(ctx)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second == first || r.op.refreshed != 1 {
		t.Fatalf("no refresh happened (refreshed=%d)", r.op.refreshed)
	}
	// The provider rotated the refresh token and revoked the old one; only a persisted new one
	// refreshes again.
	r.clock.Advance(59 * time.Minute)
	third, err := r.sessions.Delegated(sess).AccessToken(ctx)
	if err != nil {
		t.Fatalf("second refresh (rotated token not persisted?): %v", err)
	}
	if third == second || r.op.refreshed != 2 {
		t.Errorf("second refresh did not happen (refreshed=%d)", r.op.refreshed)
	}
}

func TestForcedRefreshAfter401(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	_, sess := MustSession(t, r)
	a, b := r.sessions.Delegated(sess), r.sessions.Delegated(sess)
	t0, _ := a.AccessToken(ctx)
	if tb, _ := b.AccessToken(ctx); tb != t0 {
		t.Fatal("two requests of one session got different tokens")
	}
	// Graph answered 401 to both requests. The first refreshes; the second finds the new token
	// already stored and must not redeem the (now rotated) refresh token again.
	t1, err := a.Refresh(ctx)
	if err != nil || t1 == t0 {
		t.Fatalf("Refresh: %q %v", t1, err)
	}
	t2, err := b.Refresh(ctx)
	if err != nil || t2 != t1 {
		t.Fatalf("second Refresh = %q, %v; want the token the first stored", t2, err)
	}
	if r.op.refreshed != 1 {
		t.Errorf("refreshed %d times, want 1", r.op.refreshed)
	}
	// A 401 to the new token is a real rejection: refresh again.
	if t3, err := b.Refresh(ctx); err != nil || t3 == t1 || r.op.refreshed != 2 {
		t.Errorf("refresh after 401 on fresh token: %q %v refreshed=%d", t3, err, r.op.refreshed)
	}
}

func TestRevokedGrantEndsSession(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ctx := context.Background()
	raw, sess := MustSession(t, r)
	r.op.mu.Lock()
	clear(r.op.refresh) // the administrator revoked the person's sessions
	r.op.mu.Unlock()
	r.clock.Advance(59 * time.Minute)
	if _, err := r.sessions.Delegated(sess).AccessToken(ctx); !errors.Is(err, auth.ErrReauthenticate) {
		t.Fatalf("err = %v, want ErrReauthenticate", err)
	}
	if _, err := r.sessions.Load(ctx, raw); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("session survived a revoked grant: %v", err)
	}
}

func TestSweepRemovesExpired(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	MustSession(t, r)
	r.signIn.Begin(context.Background(), "b", "/")
	r.clock.Advance(9 * time.Hour)
	n, err := r.sessions.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("swept %d rows, want 2 (one login, one session)", n)
	}
}

// A refresh names the same scopes as the sign-in: Entra answers for one resource per token,
// and the v2.0 endpoint reads which from scope.
func TestRefreshSendsTheSignInScopes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := MustLogin(t, r)
	_, sess, err := r.sessions.Create(context.Background(), done.Identity, done.Token)
	if err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(59 * time.Minute)
	if _, err := r.sessions.Delegated(sess).AccessToken(context.Background()); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if len(r.op.refreshForms) != 1 {
		t.Fatalf("%d refresh requests", len(r.op.refreshForms))
	}
	got := strings.Fields(r.op.refreshForms[0].Get("scope"))
	want := []string{"openid", "profile", "offline_access", "https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All"}
	if !slices.Equal(got, want) {
		t.Errorf("refresh scope = %q, want %q", got, want)
	}
}
