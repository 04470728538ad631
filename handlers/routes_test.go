package handlers

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
)

// examplePath turns a route pattern into a concrete path.
func examplePath(pattern string) string {
	switch pattern {
	case "/static/*":
		return "/static/app.css"
	case "/_sandbox/*":
		return "/_sandbox/idp/nowhere"
	case "/audit/export":
		return "/audit/export?format=csv"
	case "/audit/:seq":
		return "/audit/1" // the first sign-in: Hannah's own record
	}
	// A real sandbox token, so a permitted request reaches the handler's own logic.
	return strings.ReplaceAll(pattern, ":id", "0b6f9a4e-2c1d-4e8f-9a3b-5d7c1e2f4a61")
}

func isRedirectToLogin(p page) bool {
	return p.status == http.StatusSeeOther && strings.HasPrefix(p.header.Get("Location"), "/auth/login?return_to=")
}

// TestRouteGuards walks the route table itself, so a route added without thought about its
// guard is tested the moment it exists.
func TestRouteGuards(t *testing.T) {
	p := newTestPortal(t, nil)
	anon := p.browser(t)
	hannah := p.browser(t)
	MustSignIn(t, hannah, "hannah", "/")
	nora := p.browser(t)
	MustSignIn(t, nora, "nora", "/")
	avery := p.browser(t)
	MustSignIn(t, avery, "avery", "/")

	routes := p.server.routes()
	if len(routes) < 8 {
		t.Fatalf("route table has %d routes", len(routes))
	}
	for _, r := range routes {
		path := examplePath(r.Path)
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			// Unsafe methods are sent with a valid token where a session exists, so this test
			// sees the guard, not the CSRF check.
			send := func(b *browser, csrf string) page {
				if isSafeMethod(r.Method) {
					return b.do(r.Method, path, nil, nil)
				}
				return b.do(r.Method, path, url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": b.base})
			}
			switch r.Access {
			case public:
				got := send(anon, "")
				if isRedirectToLogin(got) || got.status == http.StatusUnauthorized || got.status == http.StatusForbidden {
					t.Errorf("public route refused an anonymous request: %d", got.status)
				}
			case anyRole:
				got := send(anon, "")
				if isSafeMethod(r.Method) && !isRedirectToLogin(got) {
					t.Errorf("anonymous GET: %d %s, want redirect to sign-in", got.status, got.header.Get("Location"))
				}
				if !isSafeMethod(r.Method) && got.status != http.StatusUnauthorized {
					t.Errorf("anonymous %s: %d, want 401", r.Method, got.status)
				}
				home := nora.get("/")
				got = send(nora, "")
				if got.status != http.StatusForbidden || !strings.Contains(got.body, "DepToken.Upload") {
					t.Errorf("Nora (no role): %d, want the 403 page naming the role (%d)", got.status, home.status)
				}
				hp := hannah.get("/")
				got = send(hannah, csrfOrEmpty(hp.body))
				// An upload id that does not exist is a 404 page, not a refusal.
				if got.status >= 400 && !(got.status == http.StatusNotFound && strings.Contains(got.body, "No such renewal")) {
					t.Errorf("Hannah (uploader): %d", got.status)
				}
			case uploader:
				got := send(anon, "")
				if isSafeMethod(r.Method) && !isRedirectToLogin(got) {
					t.Errorf("anonymous GET: %d %s, want redirect to sign-in", got.status, got.header.Get("Location"))
				}
				if !isSafeMethod(r.Method) && got.status != http.StatusUnauthorized {
					t.Errorf("anonymous %s: %d, want 401", r.Method, got.status)
				}
				got = send(nora, csrfOrEmpty(nora.get("/").body))
				if got.status != http.StatusForbidden || !strings.Contains(got.body, "You need a depportal role") {
					t.Errorf("Nora (no role): %d, want the 403 page", got.status)
				}
				got = send(avery, csrfOrEmpty(avery.get("/").body))
				if got.status != http.StatusForbidden || !strings.Contains(got.body, "DepToken.Upload") {
					t.Errorf("Avery (auditor only): %d, want the 403 page naming DepToken.Upload", got.status)
				}
				got = send(hannah, csrfOrEmpty(hannah.get("/").body))
				if got.status == http.StatusUnauthorized || got.status == http.StatusForbidden || isRedirectToLogin(got) {
					t.Errorf("Hannah (uploader): %d", got.status)
				}
			case auditor:
				got := send(anon, "")
				if isSafeMethod(r.Method) && !isRedirectToLogin(got) || !isSafeMethod(r.Method) && got.status != http.StatusUnauthorized {
					t.Errorf("anonymous: %d", got.status)
				}
				if got = send(nora, csrfOrEmpty(nora.get("/").body)); got.status != http.StatusForbidden {
					t.Errorf("Nora (no role): %d", got.status)
				}
				got = send(hannah, csrfOrEmpty(hannah.get("/").body))
				if got.status != http.StatusForbidden || !strings.Contains(got.body, "DepToken.Audit") {
					t.Errorf("Hannah (uploader only): %d, want the 403 page naming DepToken.Audit", got.status)
				}
				got = send(avery, csrfOrEmpty(avery.get("/").body))
				if got.status >= 400 {
					t.Errorf("Avery (auditor): %d", got.status)
				}
			case metricsReader:
				// From loopback, the default metrics network; the token and other networks
				// are tested in metrics_test.go.
				got := send(anon, "")
				if got.status != http.StatusOK || !strings.Contains(got.body, "depportal_http_requests_total") {
					t.Errorf("metrics from loopback: %d", got.status)
				}
			default:
				t.Fatalf("route has an access level this test does not know: %d", r.Access)
			}
		})
	}
}

func csrfOrEmpty(body string) string {
	if m := csrfPattern.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// TestCSRFOnEveryUnsafeRoute: with a live session, an unsafe request without the session's
// token, or with another session's, is refused before the handler runs.
func TestCSRFOnEveryUnsafeRoute(t *testing.T) {
	p := newTestPortal(t, nil)
	hannah := p.browser(t)
	home, _ := MustSignIn(t, hannah, "hannah", "/")
	avery := p.browser(t)
	averyHome, _ := MustSignIn(t, avery, "avery", "/")
	otherToken := csrfFrom(t, averyHome.body)
	_ = home

	unsafe := 0
	for _, r := range p.server.routes() {
		if isSafeMethod(r.Method) || strings.HasPrefix(r.Path, "/_sandbox/") {
			continue
		}
		unsafe++
		path := examplePath(r.Path)
		for name, form := range map[string]url.Values{
			"no token":            {},
			"empty token":         {"csrf_token": {""}},
			"other session token": {"csrf_token": {otherToken}},
		} {
			got := hannah.do(r.Method, path, form, map[string]string{"Origin": hannah.base})
			if got.status != http.StatusForbidden || !strings.Contains(got.body, "This form has expired") {
				t.Errorf("%s %s with %s: %d", r.Method, r.Path, name, got.status)
			}
		}
		// A cross-site request is refused by the origin check even with the right token.
		got := hannah.do(r.Method, path, url.Values{"csrf_token": {csrfFrom(t, hannah.get("/").body)}},
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
		if got.status != http.StatusForbidden {
			t.Errorf("%s %s cross-site: %d", r.Method, r.Path, got.status)
		}
	}
	if unsafe == 0 {
		t.Fatal("no unsafe routes found: the test checked nothing")
	}
	// The session survived all of it: the refused requests did nothing.
	if got := hannah.get("/"); got.status != http.StatusOK {
		t.Errorf("session after refused requests: %d", got.status)
	}
}

var nonceAttr = regexp.MustCompile(`<script[^>]*nonce="([^"]+)"`)

// TestSecurityHeadersOnEveryRoute checks every route, signed in and not, plus a 404.
func TestSecurityHeadersOnEveryRoute(t *testing.T) {
	p := newTestPortal(t, nil)
	anon := p.browser(t)
	hannah := p.browser(t)
	MustSignIn(t, hannah, "hannah", "/")

	paths := []string{"/does-not-exist"}
	for _, r := range p.server.routes() {
		if r.Method == http.MethodGet {
			paths = append(paths, examplePath(r.Path))
		}
	}
	seen := map[string]bool{}
	for _, path := range paths {
		for who, b := range map[string]*browser{"anonymous": anon, "hannah": hannah} {
			got := b.get(path)
			h := got.header
			csp := h.Get("Content-Security-Policy")
			for _, want := range []string{"default-src 'self'", "script-src 'nonce-", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s %s: CSP %q lacks %q", who, path, csp, want)
				}
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("%s %s: nosniff/referrer headers missing", who, path)
			}
			if h.Get("Strict-Transport-Security") != "" {
				t.Errorf("%s %s: HSTS on plain http", who, path)
			}
			id := h.Get("X-Request-ID")
			if id == "" || seen[id] {
				t.Errorf("%s %s: request ID %q missing or reused", who, path, id)
			}
			seen[id] = true
			if m := nonceAttr.FindStringSubmatch(got.body); m != nil && !strings.Contains(csp, "'nonce-"+m[1]+"'") {
				t.Errorf("%s %s: script nonce %q not in CSP %q", who, path, m[1], csp)
			}
		}
	}
}

func TestHSTSWhenHTTPS(t *testing.T) {
	p := newTestPortal(t, nil)
	// The same portal configured for https (behind a TLS-terminating proxy).
	cfg := p.server.Config
	cfg.PublicURL, _ = url.Parse("https://depportal.contoso.com")
	cfg.Mode, cfg.AuthorityHost = config.ModeTenant, "https://login.microsoftonline.com"
	sessions, err := auth.NewSessions(auth.SessionConfig{IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour, SecureCookies: true}, nil, testKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Config: cfg, Logger: slog.New(slog.DiscardHandler), Sessions: sessions})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if got := rec.Header().Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=") {
		t.Errorf("HSTS = %q", got)
	}
	// Sign-out posts here and is redirected to Entra ID's end-session endpoint; Chrome checks
	// form-action against that redirect too.
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://login.microsoftonline.com") {
		t.Errorf("tenant CSP = %q", csp)
	}
	if sessions.SessionCookieName() != "__Host-depportal_session" {
		t.Errorf("cookie name %s", sessions.SessionCookieName())
	}
}

func TestIncomingRequestIDIsNotTrusted(t *testing.T) {
	p := newTestPortal(t, nil)
	b := p.browser(t)
	got := b.do(http.MethodGet, "/healthz", nil, map[string]string{"X-Request-ID": "chosen-by-client"})
	if id := got.header.Get("X-Request-ID"); id == "chosen-by-client" || id == "" {
		t.Errorf("response request ID = %q", id)
	}
	if !strings.Contains(p.logs.String(), "upstream_request_id=chosen-by-client") {
		t.Error("a well-formed upstream ID should be logged beside ours")
	}
	b.do(http.MethodGet, "/healthz", nil, map[string]string{"X-Request-ID": "evil\" injected=1"})
	if strings.Contains(p.logs.String(), "injected") {
		t.Error("a malformed upstream ID reached the log")
	}
}

func TestForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	p := newTestPortal(t, nil)
	p.browser(t).do(http.MethodGet, "/healthz", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
	logs := p.logs.String()
	if strings.Contains(logs, "client_ip=203.0.113.9") || !strings.Contains(logs, "client_ip=127.0.0.1") {
		t.Errorf("spoofed X-Forwarded-For believed:\n%s", logs)
	}
}

func TestForwardedForBelievedFromTrustedProxy(t *testing.T) {
	p := newTestPortal(t, map[string]string{"DEPPORTAL_TRUSTED_PROXIES": "127.0.0.0/8"})
	p.browser(t).do(http.MethodGet, "/healthz", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
	if !strings.Contains(p.logs.String(), "client_ip=203.0.113.9") {
		t.Error("X-Forwarded-For from a trusted proxy ignored")
	}
}

func TestNotFoundPage(t *testing.T) {
	p := newTestPortal(t, nil)
	got := p.browser(t).get("/no/such/page")
	if got.status != http.StatusNotFound || !strings.Contains(got.body, "Page not found") || !strings.Contains(got.body, "sandbox-banner") {
		t.Errorf("404: %d", got.status)
	}
}

func TestReadyz(t *testing.T) {
	p := newTestPortal(t, nil)
	got := p.browser(t).get("/readyz")
	if got.status != http.StatusOK || !strings.Contains(got.body, `"oidc":"ok"`) {
		t.Errorf("readyz: %d %s", got.status, got.body)
	}
}
