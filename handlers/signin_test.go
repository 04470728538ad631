package handlers

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestHannahSignsInAndOut(t *testing.T) {
	p := newTestPortal(t, nil)
	b := p.browser(t)

	// Not signed in: the start page sends you to sign in.
	first := b.get("/")
	if first.status != http.StatusSeeOther || !strings.HasPrefix(first.header.Get("Location"), "/auth/login?return_to=%2F") {
		t.Fatalf("GET / signed out: %d %s", first.status, first.header.Get("Location"))
	}

	home, at := MustSignIn(t, b, "hannah", "/")
	if home.status != http.StatusOK || !strings.HasSuffix(at, "/") {
		t.Fatalf("landed on %s with %d", at, home.status)
	}
	for _, want := range []string{"Hannah Helpdesk", "DepToken.Upload", "Sandbox — not connected to a real tenant"} {
		if !strings.Contains(home.body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	sessionCookie := b.cookie("depportal_session")
	if sessionCookie == nil {
		t.Fatal("no session cookie")
	}

	// Sign out: server-side session deleted, then the provider's end-session, then /signed-out.
	out := b.do(http.MethodPost, "/auth/logout", url.Values{"csrf_token": {csrfFrom(t, home.body)}}, map[string]string{"Origin": b.base})
	if out.status != http.StatusSeeOther || !strings.Contains(out.header.Get("Location"), "/_sandbox/idp/") {
		t.Fatalf("logout: %d → %s", out.status, out.header.Get("Location"))
	}
	signedOut, at := b.follow(out.header.Get("Location"))
	if !strings.HasSuffix(at, "/signed-out") || !strings.Contains(signedOut.body, "You are signed out") {
		t.Errorf("after logout landed on %s", at)
	}

	// The old cookie, replayed, no longer opens a session.
	replay := p.browser(t)
	u, _ := url.Parse(p.srv.URL)
	replay.client.Jar.SetCookies(u, []*http.Cookie{{Name: "depportal_session", Value: sessionCookie.Value}})
	again := replay.get("/")
	if again.status != http.StatusSeeOther || !strings.HasPrefix(again.header.Get("Location"), "/auth/login") {
		t.Errorf("old cookie after logout: %d %s", again.status, again.header.Get("Location"))
	}
}

func TestSignInIssuesFreshSessionID(t *testing.T) {
	p := newTestPortal(t, nil)
	b := p.browser(t)
	u, _ := url.Parse(p.srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "depportal_session", Value: "planted-by-an-attacker-aaaaaaaaaaaaaaaaaaaaaaaa"}})
	MustSignIn(t, b, "hannah", "/")
	first := b.cookie("depportal_session").Value
	if first == "planted-by-an-attacker-aaaaaaaaaaaaaaaaaaaaaaaa" {
		t.Fatal("session fixation: the planted ID was kept")
	}
	MustSignIn(t, b, "hannah", "/")
	if second := b.cookie("depportal_session").Value; second == first {
		t.Error("a second sign-in kept the first session ID")
	}
}

func TestReturnToSurvivesSignIn(t *testing.T) {
	p := newTestPortal(t, nil)
	b := p.browser(t)
	_, at := MustSignIn(t, b, "avery", "/healthz")
	if !strings.HasSuffix(at, "/healthz") {
		t.Errorf("landed on %s, want /healthz", at)
	}
	_, at = MustSignIn(t, b, "avery", "//evil.example/")
	if u, _ := url.Parse(at); u.Host != strings.TrimPrefix(p.srv.URL, "http://") || u.Path != "/" {
		t.Errorf("open redirect: landed on %s", at)
	}
}

func TestNoraGetsForbiddenPage(t *testing.T) {
	p := newTestPortal(t, nil)
	b := p.browser(t)
	page, _ := MustSignIn(t, b, "nora", "/")
	if page.status != http.StatusForbidden {
		t.Fatalf("status %d", page.status)
	}
	for _, want := range []string{"You need a depportal role", "DepToken.Upload", "DepToken.Audit", "Nora Norole"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("403 page lacks %q", want)
		}
	}
}

func TestEveFromAnotherTenantRefused(t *testing.T) {
	p := newTestPortal(t, nil)
	b := p.browser(t)
	page, _ := MustSignIn(t, b, "eve", "/")
	if page.status != http.StatusForbidden || !strings.Contains(page.body, "Wrong organisation") {
		t.Fatalf("Eve: %d %s", page.status, page.body)
	}
	if b.cookie("depportal_session") != nil {
		t.Error("Eve got a session cookie")
	}
	if !strings.Contains(p.logs.String(), "wrong_tenant") {
		t.Error("the log does not say why Eve was refused")
	}
}

func TestCallbackProblemsShowPages(t *testing.T) {
	p := newTestPortal(t, nil)
	b := p.browser(t)
	tests := []struct{ query, want string }{
		{"", "This sign-in link has expired"},
		{"?state=forged&code=x", "This sign-in link has expired"},
		{"?error=access_denied&error_description=AADSTS65004", "did not sign you in"},
	}
	for _, tt := range tests {
		page := b.get("/auth/callback" + tt.query)
		if page.status < 400 || !strings.Contains(page.body, tt.want) || !strings.Contains(page.body, "Portal request ID") {
			t.Errorf("callback%s: %d, page lacks %q", tt.query, page.status, tt.want)
		}
	}
}

func TestCallbackLogNeverHoldsCodeOrTokens(t *testing.T) {
	p := newTestPortal(t, nil)
	b := p.browser(t)
	MustSignIn(t, b, "hannah", "/")
	logs := p.logs.String()
	for _, leak := range []string{"?code=", "&code=", "access_token", "refresh_token", "id_token", "test-secret", "eyJ"} {
		if strings.Contains(logs, leak) {
			t.Errorf("log contains %q", leak)
		}
	}
}
