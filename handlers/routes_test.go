package handlers_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/handlers"
	"github.com/depportal/depportal/internal/testkit"
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

func isRedirectToLogin(p testkit.Page) bool {
	return p.Status == http.StatusSeeOther && strings.HasPrefix(p.Header.Get("Location"), "/auth/login?return_to=")
}

// TestRouteGuards walks the route table itself, so a route added without thought about its
// guard is tested the moment it exists.
func TestRouteGuards(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	anon := p.browser(t)
	hannah := p.browser(t)
	testkit.MustSignIn(t, hannah, "hannah", "/")
	nora := p.browser(t)
	testkit.MustSignIn(t, nora, "nora", "/")
	avery := p.browser(t)
	testkit.MustSignIn(t, avery, "avery", "/")

	routes := handlers.Routes(p.app.Config(), p.tenant)
	if len(routes) < 8 {
		t.Fatalf("route table has %d routes", len(routes))
	}
	for _, r := range routes {
		path := examplePath(r.Path)
		t.Run(r.Method+" "+r.Path, func(t *testing.T) {
			// Unsafe methods are sent with a valid token where a session exists, so this test
			// sees the guard, not the CSRF check.
			send := func(b *testkit.Browser, csrf string) testkit.Page {
				if handlers.IsSafeMethod(r.Method) {
					return b.Do(r.Method, path, nil, nil)
				}
				return b.Do(r.Method, path, url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": b.Base})
			}
			switch r.Access {
			case "public":
				got := send(anon, "")
				if isRedirectToLogin(got) || got.Status == http.StatusUnauthorized || got.Status == http.StatusForbidden {
					t.Errorf("public route refused an anonymous request: %d", got.Status)
				}
			case "anyRole":
				got := send(anon, "")
				if handlers.IsSafeMethod(r.Method) && !isRedirectToLogin(got) {
					t.Errorf("anonymous GET: %d %s, want redirect to sign-in", got.Status, got.Header.Get("Location"))
				}
				if !handlers.IsSafeMethod(r.Method) && got.Status != http.StatusUnauthorized {
					t.Errorf("anonymous %s: %d, want 401", r.Method, got.Status)
				}
				home := nora.Get("/")
				got = send(nora, "")
				if got.Status != http.StatusForbidden || !strings.Contains(got.Body, "DepToken.Upload") {
					t.Errorf("Nora (no role): %d, want the 403 page naming the role (%d)", got.Status, home.Status)
				}
				hp := hannah.Get("/")
				got = send(hannah, csrfOrEmpty(hp.Body))
				// An upload id that does not exist is a 404 page, not a refusal.
				if got.Status >= 400 && !(got.Status == http.StatusNotFound && strings.Contains(got.Body, "No such renewal")) {
					t.Errorf("Hannah (uploader): %d", got.Status)
				}
			case "uploader":
				got := send(anon, "")
				if handlers.IsSafeMethod(r.Method) && !isRedirectToLogin(got) {
					t.Errorf("anonymous GET: %d %s, want redirect to sign-in", got.Status, got.Header.Get("Location"))
				}
				if !handlers.IsSafeMethod(r.Method) && got.Status != http.StatusUnauthorized {
					t.Errorf("anonymous %s: %d, want 401", r.Method, got.Status)
				}
				got = send(nora, csrfOrEmpty(nora.Get("/").Body))
				if got.Status != http.StatusForbidden || !strings.Contains(got.Body, "You need a depportal role") {
					t.Errorf("Nora (no role): %d, want the 403 page", got.Status)
				}
				got = send(avery, csrfOrEmpty(avery.Get("/").Body))
				if got.Status != http.StatusForbidden || !strings.Contains(got.Body, "DepToken.Upload") {
					t.Errorf("Avery (auditor only): %d, want the 403 page naming DepToken.Upload", got.Status)
				}
				got = send(hannah, csrfOrEmpty(hannah.Get("/").Body))
				if got.Status == http.StatusUnauthorized || got.Status == http.StatusForbidden || isRedirectToLogin(got) {
					t.Errorf("Hannah (uploader): %d", got.Status)
				}
			case "auditor":
				got := send(anon, "")
				if handlers.IsSafeMethod(r.Method) && !isRedirectToLogin(got) || !handlers.IsSafeMethod(r.Method) && got.Status != http.StatusUnauthorized {
					t.Errorf("anonymous: %d", got.Status)
				}
				if got = send(nora, csrfOrEmpty(nora.Get("/").Body)); got.Status != http.StatusForbidden {
					t.Errorf("Nora (no role): %d", got.Status)
				}
				got = send(hannah, csrfOrEmpty(hannah.Get("/").Body))
				if got.Status != http.StatusForbidden || !strings.Contains(got.Body, "DepToken.Audit") {
					t.Errorf("Hannah (uploader only): %d, want the 403 page naming DepToken.Audit", got.Status)
				}
				got = send(avery, csrfOrEmpty(avery.Get("/").Body))
				if got.Status >= 400 {
					t.Errorf("Avery (auditor): %d", got.Status)
				}
			case "metricsReader":
				// From loopback, the default metrics network; the token and other networks
				// are tested in metrics_test.go.
				got := send(anon, "")
				if got.Status != http.StatusOK || !strings.Contains(got.Body, "depportal_http_requests_total") {
					t.Errorf("metrics from loopback: %d", got.Status)
				}
			default:
				t.Fatalf("route has an access level this test does not know: %s", r.Access)
			}
		})
	}
}

// TestCSRFOnEveryUnsafeRoute: with a live session, an unsafe request without the session's
// token, or with another session's, is refused before the handler runs.
func TestCSRFOnEveryUnsafeRoute(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah := p.browser(t)
	home, _ := testkit.MustSignIn(t, hannah, "hannah", "/")
	avery := p.browser(t)
	averyHome, _ := testkit.MustSignIn(t, avery, "avery", "/")
	otherToken := csrfFrom(t, averyHome.Body)
	_ = home

	unsafe := 0
	for _, r := range handlers.Routes(p.app.Config(), p.tenant) {
		if handlers.IsSafeMethod(r.Method) || strings.HasPrefix(r.Path, "/_sandbox/") {
			continue
		}
		unsafe++
		path := examplePath(r.Path)
		for name, form := range map[string]url.Values{
			"no token":            {},
			"empty token":         {"csrf_token": {""}},
			"other session token": {"csrf_token": {otherToken}},
		} {
			got := hannah.Do(r.Method, path, form, map[string]string{"Origin": hannah.Base})
			if got.Status != http.StatusForbidden || !strings.Contains(got.Body, "This form has expired") {
				t.Errorf("%s %s with %s: %d", r.Method, r.Path, name, got.Status)
			}
		}
		// A cross-site request is refused by the origin check even with the right token.
		got := hannah.Do(r.Method, path, url.Values{"csrf_token": {csrfFrom(t, hannah.Get("/").Body)}},
			map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
		if got.Status != http.StatusForbidden {
			t.Errorf("%s %s cross-site: %d", r.Method, r.Path, got.Status)
		}
	}
	if unsafe == 0 {
		t.Fatal("no unsafe routes found: the test checked nothing")
	}
	// The session survived all of it: the refused requests did nothing.
	if got := hannah.Get("/"); got.Status != http.StatusOK {
		t.Errorf("session after refused requests: %d", got.Status)
	}
}

var nonceAttr = regexp.MustCompile(`<script[^>]*nonce="([^"]+)"`)

// TestSecurityHeadersOnEveryRoute checks every route, signed in and not, plus a 404.
func TestSecurityHeadersOnEveryRoute(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	anon := p.browser(t)
	hannah := p.browser(t)
	testkit.MustSignIn(t, hannah, "hannah", "/")

	paths := []string{"/does-not-exist"}
	for _, r := range handlers.Routes(p.app.Config(), p.tenant) {
		if r.Method == http.MethodGet {
			paths = append(paths, examplePath(r.Path))
		}
	}
	seen := map[string]bool{}
	for _, path := range paths {
		for who, b := range map[string]*testkit.Browser{"anonymous": anon, "hannah": hannah} {
			got := b.Get(path)
			h := got.Header
			csp := h.Get("Content-Security-Policy")
			// Nobody may frame the portal but Entra, its front-channel logout URL only.
			frameAncestors, xfo := "frame-ancestors 'none'", "DENY"
			if strings.HasPrefix(path, "/auth/front-channel-logout") {
				u, _ := url.Parse(p.app.Config().AuthorityHost)
				frameAncestors, xfo = "frame-ancestors "+u.Scheme+"://"+u.Host, ""
			}
			for _, want := range []string{"default-src 'self'", "script-src 'nonce-", "object-src 'none'", "base-uri 'none'", frameAncestors, "form-action 'self'"} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s %s: CSP %q lacks %q", who, path, csp, want)
				}
			}
			if h.Get("X-Frame-Options") != xfo {
				t.Errorf("%s %s: X-Frame-Options %q, want %q", who, path, h.Get("X-Frame-Options"), xfo)
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
			if m := nonceAttr.FindStringSubmatch(got.Body); m != nil && !strings.Contains(csp, "'nonce-"+m[1]+"'") {
				t.Errorf("%s %s: script nonce %q not in CSP %q", who, path, m[1], csp)
			}
		}
	}
}

// TestHSTSWhenHTTPS builds the portal through app in tenant mode, as configured behind a
// TLS-terminating proxy, and asks it for a page without starting it (nothing is discovered).
func TestHSTSWhenHTTPS(t *testing.T) {
	t.Parallel()
	signerKey, _, err := audit.GenerateKey("depportal-test/audit")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"ENTRA_TENANT_ID":             "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"ENTRA_CLIENT_ID":             "5e1f6a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
		"ENTRA_CLIENT_SECRET":         "test-secret",
		"DEPPORTAL_PUBLIC_URL":        "https://depportal.contoso.com",
		"DEPPORTAL_SESSION_KEY":       base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
		"DEPPORTAL_AUDIT_SIGNING_KEY": signerKey,
		"DEPPORTAL_DATA_DIR":          t.TempDir(),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{Logs: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if got := rec.Header().Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=") {
		t.Errorf("HSTS = %q", got)
	}
	// Sign-out posts here and is redirected to Entra ID's end-session endpoint; Chrome checks
	// form-action against that redirect too.
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' https://login.microsoftonline.com") {
		t.Errorf("tenant CSP = %q", csp)
	}
	if name := a.Sessions().SessionCookieName(); name != "__Host-depportal_session" {
		t.Errorf("cookie name %s", name)
	}
}

func TestIncomingRequestIDIsNotTrusted(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b := p.browser(t)
	got := b.Do(http.MethodGet, "/healthz", nil, map[string]string{"X-Request-ID": "chosen-by-client"})
	if id := got.Header.Get("X-Request-ID"); id == "chosen-by-client" || id == "" {
		t.Errorf("response request ID = %q", id)
	}
	if line := p.logLineOf(t, got.Header.Get("X-Request-ID")); !strings.Contains(line, "upstream_request_id=chosen-by-client") {
		t.Error("a well-formed upstream ID should be logged beside ours")
	}
	b.Do(http.MethodGet, "/healthz", nil, map[string]string{"X-Request-ID": "evil\" injected=1"})
	if strings.Contains(p.logs.String(), "injected") {
		t.Error("a malformed upstream ID reached the log")
	}
}

func TestForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	got := p.browser(t).Do(http.MethodGet, "/healthz", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
	line := p.logLineOf(t, got.Header.Get("X-Request-ID"))
	if strings.Contains(p.logs.String(), "client_ip=203.0.113.9") || !strings.Contains(line+" ", "client_ip=127.0.0.1 ") {
		t.Errorf("spoofed X-Forwarded-For believed:\n%s", line)
	}
}

func TestForwardedForBelievedFromTrustedProxy(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, map[string]string{"DEPPORTAL_TRUSTED_PROXIES": "127.0.0.0/8"})
	got := p.browser(t).Do(http.MethodGet, "/healthz", nil, map[string]string{"X-Forwarded-For": "203.0.113.9"})
	if line := p.logLineOf(t, got.Header.Get("X-Request-ID")); !strings.Contains(line+" ", "client_ip=203.0.113.9 ") {
		t.Error("X-Forwarded-For from a trusted proxy ignored")
	}
}

func TestNotFoundPage(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	got := p.browser(t).Get("/no/such/page")
	if got.Status != http.StatusNotFound || !strings.Contains(got.Body, "Page not found") || !strings.Contains(got.Body, "sandbox-banner") {
		t.Errorf("404: %d", got.Status)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	got := p.browser(t).Get("/readyz")
	if got.Status != http.StatusOK || !strings.Contains(got.Body, `"oidc":"ok"`) {
		t.Errorf("readyz: %d %s", got.Status, got.Body)
	}
}
