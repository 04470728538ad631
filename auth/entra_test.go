package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
)

// Every sign-in declares the cp1 client capability; one answering a claims challenge asks
// for the challenge's claims too, merged with it.
func TestAuthorizeRequestDeclaresCP1AndCarriesTheChallenge(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	claimsOf := func(authURL string) map[string]any {
		t.Helper()
		u, _ := url.Parse(authURL)
		var doc map[string]any
		if err := json.Unmarshal([]byte(u.Query().Get("claims")), &doc); err != nil {
			t.Fatalf("claims %q: %v", u.Query().Get("claims"), err)
		}
		return doc
	}
	plain, err := r.signIn.Begin(context.Background(), "b", "/")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"access_token": map[string]any{"xms_cc": map[string]any{"values": []any{"cp1"}}}}
	if got := claimsOf(plain); !reflect.DeepEqual(got, want) {
		t.Errorf("claims %v, want %v", got, want)
	}

	challenge := base64.StdEncoding.EncodeToString([]byte(`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`))
	stepUp, err := r.signIn.BeginWithClaims(context.Background(), "b", "/uploads/u1", challenge)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{"access_token": map[string]any{"xms_cc": map[string]any{"values": []any{"cp1"}},
		"acrs": map[string]any{"essential": true, "value": "c1"}}}
	if got := claimsOf(stepUp); !reflect.DeepEqual(got, want) {
		t.Errorf("claims %v, want %v", got, want)
	}

	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString([]byte("[1,2]")), strings.Repeat("A", 4096)} {
		if _, err := r.signIn.BeginWithClaims(context.Background(), "b", "/", bad); !errors.Is(err, auth.ErrClaimsChallenge) {
			t.Errorf("%.20q: %v", bad, err)
		}
	}
}

// The capability goes with refreshes too: Entra echoes xms_cc only to a request that declares it.
func TestRefreshDeclaresCP1(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	_, sess := MustSession(t, r)
	r.clock.Advance(59 * time.Minute)
	if _, err := r.sessions.Delegated(sess).AccessToken(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := r.op.refreshForms[0].Get("claims"); got != `{"access_token":{"xms_cc":{"values":["cp1"]}}}` {
		t.Errorf("refresh claims = %q", got)
	}
}

// A B2B guest (tid = this tenant, acct 1, idp his home) is admitted on his roles, and the trail
// says he is a guest; a member is not called one.
func TestGuestIsRecordedAsAGuest(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		claims map[string]any
		guest  bool
	}{
		"guest, acct":    {map[string]any{"acct": 1, "idp": "https://sts.windows.net/c0ffee00-1d2e-4f3a-8b5c-6d7e8f9a0b1c/"}, true},
		"guest, no acct": {map[string]any{"idp": "https://sts.windows.net/c0ffee00-1d2e-4f3a-8b5c-6d7e8f9a0b1c/"}, true},
		"member":         {map[string]any{"acct": 0}, false},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			sessions, trail := MustRecordingSessions(t, r)
			r.op.withClaims(func(m map[string]any) {
				for k, v := range c.claims {
					m[k] = v
				}
			})
			started, err := sessions.Start(context.Background(), r.signIn, r.callback(t, "b"))
			if err != nil || started.Session.Identity.TenantID != testTenant || started.Session.Identity.Guest != c.guest {
				t.Fatalf("identity %+v, %v", started.Session.Identity, err)
			}
			rec := trail.entries[len(trail.entries)-1]
			if rec.Type != audit.SignInSucceeded {
				t.Fatalf("last record %s", rec.Type)
			}
			if got := strings.Contains(rec.Reason, "guest account"); got != c.guest {
				t.Errorf("reason %q, guest %v", rec.Reason, c.guest)
			}
			if c.guest && !strings.Contains(rec.Reason, "c0ffee00-1d2e-4f3a-8b5c-6d7e8f9a0b1c") {
				t.Errorf("reason %q does not name his home", rec.Reason)
			}
		})
	}
}

// Front-channel logout ends the sessions of the provider's sid, when iss is the provider's.
func TestEndProviderSession(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.op.withClaims(func(m map[string]any) { m["sid"] = "sid-1"; m["login_hint"] = "O.hint" })
	raw, sess := MustSession(t, r)
	if sess.Identity.SessionID != "sid-1" || sess.Identity.LoginHint != "O.hint" {
		t.Fatalf("identity %+v", sess.Identity)
	}
	ctx := context.Background()
	for _, c := range []struct{ iss, sid string }{{"https://evil.example/v2.0", "sid-1"}, {r.op.issuer, ""}} {
		if _, err := r.sessions.EndProviderSession(ctx, r.signIn, c.iss, c.sid); !errors.Is(err, auth.ErrFrontChannel) {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if _, err := r.sessions.Load(ctx, raw); err != nil {
		t.Fatalf("a refused call ended the session: %v", err)
	}
	if n, err := r.sessions.EndProviderSession(ctx, r.signIn, r.op.issuer, "sid-1"); err != nil || n != 1 {
		t.Errorf("ended %d (%v)", n, err)
	}
	if _, err := r.sessions.Load(ctx, raw); !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("after front-channel logout: %v", err)
	}
}
