package auth_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/auth"
)

func TestLoginSucceeds(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	done := MustLogin(t, r)
	id := done.Identity
	if id.TenantID != testTenant || id.ObjectID != testOID || id.Name != "Hannah Helpdesk" || id.Username != "hannah@contoso.example" {
		t.Errorf("identity = %+v", id)
	}
	if !id.HasRole("DepToken.Upload") || id.HasRole("DepToken.Audit") {
		t.Errorf("roles = %v", id.Roles)
	}
	if done.ReturnTo != "/settings/42" {
		t.Errorf("return to = %q", done.ReturnTo)
	}
	if done.Token.RefreshToken == "" || done.Token.AccessToken == "" {
		t.Error("tokens missing")
	}
}

func TestAuthorizeRequestUsesPKCEAndNonce(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	authURL, err := r.signIn.Begin(context.Background(), "b", "/")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 {
		t.Errorf("PKCE: method %q challenge %q", q.Get("code_challenge_method"), q.Get("code_challenge"))
	}
	if len(q.Get("nonce")) < 43 || len(q.Get("state")) < 43 {
		t.Errorf("nonce %q / state %q too short", q.Get("nonce"), q.Get("state"))
	}
	if q.Get("response_mode") != "" {
		t.Errorf("response_mode must stay the default query, got %q", q.Get("response_mode"))
	}
	want := "openid profile offline_access https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All"
	if q.Get("scope") != want {
		t.Errorf("scope = %q", q.Get("scope"))
	}
}

// The relying-party negative tests, after the OpenID Foundation's RP certification cases:
// each bad ID token is refused with its own reason.
func TestIDTokenRejected(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		setup  func(op *testOP)
		reason auth.Reason
	}{
		{"bad signature", func(op *testOP) { op.mint = op.sign(op.other, "k1") }, auth.ReasonSignature},
		{"alg none", func(op *testOP) {
			op.mint = func(c, _ map[string]any) string { return noneToken(c) }
		}, auth.ReasonAlgorithm},
		{"unknown kid", func(op *testOP) { op.mint = op.sign(op.other, "k-unknown") }, auth.ReasonUnknownKey},
		{"iss mismatch", func(op *testOP) {
			op.withClaims(func(c map[string]any) { c["iss"] = "https://login.microsoftonline.com/other/v2.0" })
		}, auth.ReasonIssuer},
		{"aud mismatch", func(op *testOP) { op.withClaims(func(c map[string]any) { c["aud"] = "some-other-app" }) }, auth.ReasonAudience},
		{"expired", func(op *testOP) {
			op.withClaims(func(c map[string]any) {
				c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
				c["exp"] = time.Now().Add(-time.Hour).Unix()
			})
		}, auth.ReasonExpired},
		{"iat far in the future", func(op *testOP) {
			op.withClaims(func(c map[string]any) {
				c["iat"] = time.Now().Add(time.Hour).Unix()
				c["exp"] = time.Now().Add(2 * time.Hour).Unix()
			})
		}, auth.ReasonIssuedInFuture},
		{"missing nonce", func(op *testOP) { op.withClaims(func(c map[string]any) { delete(c, "nonce") }) }, auth.ReasonNonce},
		{"wrong nonce", func(op *testOP) { op.withClaims(func(c map[string]any) { c["nonce"] = "n-from-another-login" }) }, auth.ReasonNonce},
		{"missing sub", func(op *testOP) { op.withClaims(func(c map[string]any) { delete(c, "sub") }) }, auth.ReasonSubject},
		{"wrong tid", func(op *testOP) {
			op.withClaims(func(c map[string]any) { c["tid"] = "c0ffee00-1d2e-4f3a-8b5c-6d7e8f9a0b1c" })
		}, auth.ReasonTenant},
		{"multiple audiences without azp", func(op *testOP) {
			op.withClaims(func(c map[string]any) { c["aud"] = []string{testClient, "https://graph.microsoft.com"} })
		}, auth.ReasonAuthorizedParty},
		{"azp of another client", func(op *testOP) { op.withClaims(func(c map[string]any) { c["azp"] = "another-client" }) }, auth.ReasonAuthorizedParty},
		{"missing oid", func(op *testOP) { op.withClaims(func(c map[string]any) { delete(c, "oid") }) }, auth.ReasonClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			tt.setup(r.op)
			_, err := r.login(t)
			var sie *auth.SignInError
			if !errors.As(err, &sie) {
				t.Fatalf("err = %v, want *SignInError", err)
			}
			if sie.Reason != tt.reason {
				t.Errorf("reason = %s (%v), want %s", sie.Reason, sie, tt.reason)
			}
		})
	}
}

func TestMultipleAudiencesWithOurAzpAccepted(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.op.withClaims(func(c map[string]any) {
		c["aud"] = []string{testClient, "https://graph.microsoft.com"}
		c["azp"] = testClient
	})
	MustLogin(t, r)
}

func reasonOf(t *testing.T, err error) auth.Reason {
	t.Helper()
	var sie *auth.SignInError
	if !errors.As(err, &sie) {
		t.Fatalf("err = %v, want *SignInError", err)
	}
	return sie.Reason
}

func TestStateChecks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	authURL, err := r.signIn.Begin(ctx, "binding", "/")
	if err != nil {
		t.Fatal(err)
	}
	code, state, _ := r.op.authorize(authURL)

	_, err = r.signIn.Complete(ctx, "binding", url.Values{"code": {code}})
	if got := reasonOf(t, err); got != auth.ReasonStateMissing {
		t.Errorf("missing state: %s", got)
	}
	_, err = r.signIn.Complete(ctx, "binding", url.Values{"code": {code}, "state": {state + "x"}})
	if got := reasonOf(t, err); got != auth.ReasonStateUnknown {
		t.Errorf("wrong state: %s", got)
	}
	if _, err := r.signIn.Complete(ctx, "binding", url.Values{"code": {code}, "state": {state}}); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err = r.signIn.Complete(ctx, "binding", url.Values{"code": {code}, "state": {state}})
	if got := reasonOf(t, err); got != auth.ReasonStateUnknown {
		t.Errorf("replayed state: %s", got)
	}
}

func TestStateFromAnotherBrowserRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	authURL, _ := r.signIn.Begin(ctx, "victim-browser", "/")
	code, state, _ := r.op.authorize(authURL)
	_, err := r.signIn.Complete(ctx, "attacker-browser", url.Values{"code": {code}, "state": {state}})
	if got := reasonOf(t, err); got != auth.ReasonStateMismatch {
		t.Errorf("reason = %s", got)
	}
}

func TestLoginTransactionExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRig(t)
	authURL, _ := r.signIn.Begin(ctx, "b", "/")
	code, state, _ := r.op.authorize(authURL)
	r.clock.Advance(auth.LoginTTL + time.Second)
	_, err := r.signIn.Complete(ctx, "b", url.Values{"code": {code}, "state": {state}})
	if got := reasonOf(t, err); got != auth.ReasonLoginExpired {
		t.Errorf("reason = %s", got)
	}
}

func TestCodeWithoutVerifierRefused(t *testing.T) {
	t.Parallel()
	// The relying party always sends its verifier; a code presented without one (what an
	// attacker holding only a stolen code would do) must not be redeemable.
	r := newRig(t)
	authURL, _ := r.signIn.Begin(context.Background(), "b", "/")
	code, _, _ := r.op.authorize(authURL)
	resp, err := r.op.srv.Client().PostForm(r.op.issuer+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "client_id": {testClient}, "client_secret": {"secret"},
		"redirect_uri": {"http://localhost/auth/callback"},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("exchange without verifier: status %d, want 400", resp.StatusCode)
	}
}

func TestProviderErrorReported(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	authURL, err := r.signIn.Begin(context.Background(), "b", "/")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	_, err = r.signIn.Complete(context.Background(), "b", url.Values{"state": {u.Query().Get("state")},
		"error": {"access_denied"}, "error_description": {"AADSTS50105: FORGED Hannah renewed Contoso ABM successfully"}})
	var sie *auth.SignInError
	if !errors.As(err, &sie) || sie.Reason != auth.ReasonProvider || !sie.Transaction || sie.Code != "access_denied" || sie.AADSTS != "50105" {
		t.Fatalf("err = %#v", err)
	}
	if strings.Contains(err.Error(), "FORGED") {
		t.Errorf("free text from the query kept: %v", err)
	}
}

// A provider "error" that does not belong to a sign-in this browser started is anyone's
// forgery: refused before it is looked at, and not a transaction worth recording.
func TestProviderErrorWithoutTransactionIsNotTrusted(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	authURL, _ := r.signIn.Begin(context.Background(), "victim", "/")
	u, _ := url.Parse(authURL)
	for name, q := range map[string]url.Values{
		"no state":        {"error": {"access_denied"}},
		"unknown state":   {"error": {"access_denied"}, "state": {"made-up"}},
		"another browser": {"error": {"access_denied"}, "state": {u.Query().Get("state")}},
	} {
		_, err := r.signIn.Complete(context.Background(), "attacker", q)
		var sie *auth.SignInError
		if !errors.As(err, &sie) || sie.Reason == auth.ReasonProvider || sie.Transaction {
			t.Errorf("%s: %#v", name, err)
		}
	}
}

func TestUnreachableProviderIsUnavailable(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.op.srv.Close()
	_, err := r.signIn.Begin(context.Background(), "b", "/")
	if got := reasonOf(t, err); got != auth.ReasonUnavailable {
		t.Errorf("reason = %s", got)
	}
	if r.signIn.Ready() {
		t.Error("Ready after failed discovery")
	}
}

func TestEndSessionURL(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	if err := r.signIn.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(r.signIn.EndSessionURL("O.hint"))
	if err != nil {
		t.Fatal(err)
	}
	if u.Path != "/"+testTenant+"/v2.0/logout" || u.Query().Get("post_logout_redirect_uri") != "http://localhost/signed-out" ||
		u.Query().Get("client_id") != testClient || u.Query().Get("logout_hint") != "O.hint" {
		t.Errorf("end session URL = %s", u)
	}
	if u, _ := url.Parse(r.signIn.EndSessionURL("")); u.Query().Has("logout_hint") {
		t.Errorf("an empty logout_hint sent: %s", u)
	}
}
