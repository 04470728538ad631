package handlers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/handlers"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

// Entra's refusals that a helpdesk meets each get a page saying what to do and whom to ask,
// with Entra's identifiers for the ticket; an unknown code still gets a page with its code.
func TestEachAADSTSCodeHasItsPage(t *testing.T) {
	t.Parallel()
	cfg := newTestPortal(t, nil).app.Config()
	const trace, correlation = "3e9d1c20-7a44-4f8b-bb19-2c6f0a8e7d31", "7f3c9a21-4b8e-4d6a-9c2f-1e5a6b7c8d90"
	for _, c := range []struct {
		code, aadsts string
		reason       auth.Reason
		status       int
		heading      string
		says         []string
	}{
		{"access_denied", "50105", auth.ReasonProvider, http.StatusForbidden, "You are not assigned to depportal", []string{"DepToken.Upload", "DepToken.Audit", "Users and groups"}},
		{"access_denied", "50020", auth.ReasonProvider, http.StatusForbidden, "Wrong organisation", []string{"another organisation", "guest"}},
		{"invalid_client", "65001", auth.ReasonProvider, http.StatusForbidden, "depportal needs an administrator's consent", []string{"admin consent", "docs/entra-setup.md"}},
		{"consent_required", "", auth.ReasonProvider, http.StatusForbidden, "depportal needs an administrator's consent", []string{"admin consent"}},
		{"access_denied", "53003", auth.ReasonProvider, http.StatusForbidden, "Blocked by your organisation's Conditional Access", []string{"Conditional Access policy"}},
		{"interaction_required", "50076", auth.ReasonProvider, http.StatusForbidden, "Multi-factor authentication is needed", []string{"verification prompt"}},
		{"interaction_required", "50079", auth.ReasonProvider, http.StatusForbidden, "Multi-factor authentication is needed", []string{"aka.ms/mysecurityinfo"}},
		{"invalid_client", "7000215", auth.ReasonClientCredential, http.StatusServiceUnavailable, "depportal cannot sign anyone in", []string{"operators", "ENTRA_CLIENT_SECRET"}},
		{"invalid_client", "7000222", auth.ReasonClientCredential, http.StatusServiceUnavailable, "depportal cannot sign anyone in", []string{"expired", "ENTRA_CLIENT_CERTIFICATE"}},
		{"access_denied", "90072", auth.ReasonProvider, http.StatusForbidden, "Sign-in did not work", []string{"Microsoft Entra ID did not sign you in"}},
	} {
		e := &auth.SignInError{Reason: c.reason, Code: c.code, AADSTS: c.aadsts, TraceID: trace, CorrelationID: correlation, Transaction: true}
		p := handlers.SignInProblem(cfg, e)
		text := p.Heading + " " + p.Message + " " + p.Next
		if p.Status != c.status || p.Heading != c.heading {
			t.Errorf("AADSTS%s (%s): %d %q, want %d %q", c.aadsts, c.code, p.Status, p.Heading, c.status, c.heading)
		}
		for _, want := range c.says {
			if !strings.Contains(text, want) {
				t.Errorf("AADSTS%s: page lacks %q: %s", c.aadsts, want, text)
			}
		}
		facts := map[string]string{}
		for _, f := range p.Support {
			facts[f.Label] = f.Value
		}
		if c.aadsts != "" && facts["Entra error"] != "AADSTS"+c.aadsts {
			t.Errorf("AADSTS%s: support facts %v lack the code", c.aadsts, facts)
		}
		if facts["Trace ID"] != trace || facts["Correlation ID"] != correlation {
			t.Errorf("AADSTS%s: support facts %v lack Entra's identifiers", c.aadsts, facts)
		}
		if len(p.Actions) == 0 {
			t.Errorf("AADSTS%s: no way on", c.aadsts)
		}
	}
}

// Entra refuses Una (no assignment) and Eve (another organisation) before the portal sees a
// token; each sees a page saying what to do, and the refusal is counted by kind. Gus, a B2B
// guest holding the uploader role, is admitted and recorded as a guest.
func TestSandboxPeopleAsEntraTreatsThem(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)

	una, _ := testkit.MustSignIn(t, p.browser(t), "una", "/")
	if una.Status != http.StatusForbidden || !strings.Contains(una.Body, "You are not assigned to depportal") ||
		!strings.Contains(una.Body, "AADSTS50105") || !strings.Contains(una.Body, "Trace ID") || !strings.Contains(una.Body, "Portal request ID") {
		t.Errorf("Una: %d %s", una.Status, una.Body)
	}
	eve, _ := testkit.MustSignIn(t, p.browser(t), "eve", "/")
	if eve.Status != http.StatusForbidden || !strings.Contains(eve.Body, "Wrong organisation") || !strings.Contains(eve.Body, "AADSTS50020") {
		t.Errorf("Eve: %d %s", eve.Status, eve.Body)
	}
	gusBrowser := p.browser(t)
	gus, _ := testkit.MustSignIn(t, gusBrowser, "gus", "/")
	if gus.Status != http.StatusOK || !strings.Contains(gus.Body, "Gus Guest") || !strings.Contains(gus.Body, "Contoso ABM") {
		t.Errorf("Gus: %d", gus.Status)
	}
	in := MustOneRecord(t, p, audit.SignInSucceeded)
	if in.Actor.Name != "Gus Guest" || in.Actor.TenantID != sandbox.TenantID || !strings.Contains(in.Reason, "guest account") ||
		!strings.Contains(in.Reason, sandbox.OtherTenantID) {
		t.Errorf("Gus's sign-in record: %+v", in)
	}

	metrics := p.browser(t).Get("/metrics").Body
	for _, want := range []string{`depportal_signins_total{result="not_assigned"} 1`, `depportal_signins_total{result="other_tenant"} 1`,
		`depportal_signins_total{result="succeeded"} 1`, `depportal_signins_total{result="client_credential"} 0`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Front-channel logout: the call Entra makes from a hidden cross-site iframe carries no cookie
// of the portal's, only iss and sid; it ends every session of that sid and no other, and only
// for the portal's own issuer.
func TestFrontChannelLogoutNeedsNoCookie(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, _ := signedInHannah(t, p)
	other, _ := signedInHannah(t, p) // another browser: another Entra session, another sid
	sidOf := func(b *testkit.Browser) string {
		sess, err := p.app.Sessions().Load(context.Background(), b.Cookie("depportal_session").Value)
		if err != nil || sess.Identity.SessionID == "" || sess.Identity.LoginHint == "" {
			t.Fatalf("session %+v: %v", sess.Identity, err)
		}
		return sess.Identity.SessionID
	}
	sid := sidOf(hannah)
	if sid == sidOf(other) {
		t.Fatal("two browsers share a provider session")
	}
	issuer := p.app.Config().Issuer()

	iframe := p.browser(t) // no cookies at all
	forged := iframe.Do(http.MethodGet, "/auth/front-channel-logout?"+url.Values{"iss": {"https://evil.example/v2.0"}, "sid": {sid}}.Encode(), nil,
		map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "iframe"})
	if forged.Status != http.StatusBadRequest {
		t.Errorf("another issuer: %d", forged.Status)
	}
	if hannah.Get("/").Status != http.StatusOK {
		t.Fatal("a call naming another issuer ended the session")
	}

	call := iframe.Do(http.MethodGet, "/auth/front-channel-logout?"+url.Values{"iss": {issuer}, "sid": {sid}}.Encode(), nil,
		map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "iframe"})
	if call.Status != http.StatusOK {
		t.Fatalf("front-channel logout: %d %s", call.Status, call.Body)
	}
	authority, _ := url.Parse(p.app.Config().AuthorityHost)
	if csp := call.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors "+authority.Scheme+"://"+authority.Host) ||
		call.Header.Get("X-Frame-Options") != "" {
		t.Errorf("framing headers: CSP %q, X-Frame-Options %q", csp, call.Header.Get("X-Frame-Options"))
	}
	if got := hannah.Get("/"); got.Status != http.StatusSeeOther || !strings.HasPrefix(got.Header.Get("Location"), "/auth/login") {
		t.Errorf("after front-channel logout: %d %s", got.Status, got.Header.Get("Location"))
	}
	if other.Get("/").Status != http.StatusOK {
		t.Error("the session of another sid ended too")
	}
}

// Signing out of Entra elsewhere (another app, the same browser) reaches the portal: the
// sandbox provider calls the front-channel logout URL, as Entra does, and the session ends.
func TestSigningOutOfEntraElsewhereEndsTheSession(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, _ := signedInHannah(t, p)
	sess, err := p.app.Sessions().Load(context.Background(), hannah.Cookie("depportal_session").Value)
	if err != nil {
		t.Fatal(err)
	}
	// What another app of the tenant sends the browser to: the end-session endpoint, with
	// its own return address (none here) and the account.
	endSession := p.app.Config().Issuer() + "/end_session?" + url.Values{"logout_hint": {sess.Identity.LoginHint}}.Encode()
	page, _ := hannah.Follow(endSession)
	if !strings.Contains(page.Body, "You signed out of your account") {
		t.Fatalf("provider's sign-out: %d %s", page.Status, page.Body)
	}
	if got := hannah.Get("/"); got.Status != http.StatusSeeOther {
		t.Errorf("the portal session outlived the Entra session: %d", got.Status)
	}
	if !strings.Contains(p.logs.String(), "sessions_ended=1") {
		t.Error("the front-channel logout is not logged")
	}
}

// Sign-out names the account (logout_hint) and returns to /signed-out, which the sandbox, like
// Entra, honours only because it is a registered redirect URI.
func TestSignOutSendsLogoutHint(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	sess, err := p.app.Sessions().Load(context.Background(), b.Cookie("depportal_session").Value)
	if err != nil {
		t.Fatal(err)
	}
	out := b.Do(http.MethodPost, "/auth/logout", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": b.Base})
	u, err := url.Parse(out.Header.Get("Location"))
	if err != nil || u.Query().Get("logout_hint") != sess.Identity.LoginHint || u.Query().Get("post_logout_redirect_uri") != p.app.Config().PostLogoutRedirectURL() {
		t.Fatalf("end-session URL %s", out.Header.Get("Location"))
	}
	page, at := b.Follow(out.Header.Get("Location"))
	if !strings.HasSuffix(at, "/signed-out") || !strings.Contains(page.Body, "You are signed out") {
		t.Errorf("landed on %s", at)
	}
}

// A claims challenge from Graph on any page leads to a sign-in that asks Entra for those
// claims, and back.
func TestClaimsChallengePageSignsInWithTheClaims(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	challenge := "eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"
	ge := graph.RestoreError(graph.ClassInsufficientClaims, graph.Error{Status: http.StatusUnauthorized, Code: "InvalidAuthenticationToken", Claims: challenge})
	rec := httptest.NewRecorder()
	deps := handlers.Deps{Config: p.app.Config(), Logger: p.app.Logger(), Sessions: p.app.Sessions()}
	handlers.RenderError(deps, ge, rec, httptest.NewRequest(http.MethodGet, "/settings/x", nil), "req-1")
	want := `href="/auth/login?return_to=%2F&amp;claims=` + url.QueryEscape(challenge) + `"`
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), want) {
		t.Errorf("%d, page lacks %s:\n%s", rec.Code, want, rec.Body.String())
	}

	// The link's sign-in asks for the claims, with the client capability.
	b := p.browser(t)
	start := b.Get("/auth/login?return_to=%2F&claims=" + url.QueryEscape(challenge))
	authorize, _ := url.Parse(start.Header.Get("Location"))
	if got := authorize.Query().Get("claims"); !strings.Contains(got, `"acrs":{"essential":true,"value":"c1"}`) || !strings.Contains(got, `"cp1"`) {
		t.Errorf("authorize claims %q", got)
	}
	// A malformed one is dropped, not followed.
	start = b.Get("/auth/login?return_to=%2F&claims=not-base64!")
	if authorize, _ := url.Parse(start.Header.Get("Location")); start.Status != http.StatusFound ||
		authorize.Query().Get("claims") != `{"access_token":{"xms_cc":{"values":["cp1"]}}}` {
		t.Errorf("malformed challenge: %d %s", start.Status, start.Header.Get("Location"))
	}
}
