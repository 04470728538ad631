package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/handlers"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

func auditCount(tb testing.TB, p *testPortal) int {
	tb.Helper()
	var n int
	if err := p.app.DB().SQL().QueryRow(`SELECT COUNT(*) FROM audit_records`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// Anyone, unsigned, sending the provider's error to the callback: none of it reaches the audit
// trail. One refusal on a sign-in this browser really started is recorded, once, with the
// error code and the AADSTS number but none of the free text.
func TestCallbackFloodWritesNoAuditRecord(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	p := newTestPortalWith(t, nil, func(o *app.Options) { o.Now = clock.Now })
	before := auditCount(t, p)
	attacker := p.browser(t)
	for i := range 500 {
		q := url.Values{"error": {"access_denied"}, "state": {fmt.Sprintf("random-%d", i)},
			"error_description": {"AADSTS50105: FORGED Hannah Helpdesk renewed Contoso ABM successfully"}}
		page := attacker.Do(http.MethodGet, "/auth/callback?"+q.Encode(), nil, map[string]string{"User-Agent": strings.Repeat("A", 4096)})
		if page.Status < 400 {
			t.Fatalf("forged callback %d answered %d", i, page.Status)
		}
	}
	if n := auditCount(t, p); n != before {
		t.Fatalf("500 forged callbacks wrote %d audit records", n-before)
	}
	clock.Advance(time.Minute) // the address's /auth budget refills

	// A real sign-in, refused by the provider: the browser's own state and binding.
	b := p.browser(t)
	login := b.Get("/auth/login?return_to=%2F")
	authorize, err := url.Parse(login.Header.Get("Location"))
	if err != nil || authorize.Query().Get("state") == "" {
		t.Fatalf("sign-in did not start: %d %q", login.Status, login.Header.Get("Location"))
	}
	q := url.Values{"state": {authorize.Query().Get("state")}, "error": {"access_denied"},
		"error_description": {"AADSTS50105: FORGED text that must not be kept"}}
	b.Do(http.MethodGet, "/auth/callback?"+q.Encode(), nil, map[string]string{"User-Agent": strings.Repeat("B", 4096)})
	if n := auditCount(t, p); n != before+1 {
		t.Fatalf("a real refusal wrote %d audit records, want 1", n-before)
	}
	r := MustOneRecord(t, p, audit.SignInRefused)
	if strings.Contains(r.Reason, "FORGED") || !strings.Contains(r.Reason, "access_denied") || !strings.Contains(r.Reason, "AADSTS50105") {
		t.Errorf("the record's reason is %q", r.Reason)
	}
	if len(r.Client.UserAgent) > audit.MaxUserAgentBytes {
		t.Errorf("user agent of %d bytes kept", len(r.Client.UserAgent))
	}
}

// A burst from one address on /auth/login, and from one session on upload, meets 429 with
// Retry-After after the budget; a renewal a minute never does.
func TestRequestBudgets(t *testing.T) {
	t.Parallel()
	clock := testkit.NewClock()
	p := newTestPortalWith(t, nil, func(o *app.Options) { o.Now = clock.Now })

	anon := p.browser(t)
	var limited testkit.Page
	for i := range 100 {
		page := anon.Get("/auth/login?return_to=%2F")
		if page.Status == http.StatusTooManyRequests {
			limited = page
			if i < 30 {
				t.Errorf("limited after %d sign-in starts; a busy office needs 30", i)
			}
			break
		}
	}
	if limited.Status != http.StatusTooManyRequests {
		t.Fatal("100 sign-in starts from one address in an instant were all served")
	}
	if s, err := strconv.Atoi(limited.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q", limited.Header.Get("Retry-After"))
	}
	if !strings.Contains(limited.Body, "Try again in") {
		t.Errorf("the 429 page does not say when to come back:\n%s", limited.Body)
	}
	clock.Advance(time.Minute)

	// Ordinary use: a renewal a minute for twenty minutes.
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	for i := range 20 {
		review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
		if review.Status != http.StatusOK {
			t.Fatalf("renewal %d: review %d", i, review.Status)
		}
		if got := confirmReview(t, b, review, ackAll(review)...); got.Status != http.StatusOK {
			t.Fatalf("renewal %d: confirm %d", i, got.Status)
		}
		clock.Advance(time.Minute)
	}

	// A script uploading as fast as it can.
	var refused testkit.Page
	for range 30 {
		page := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", "bad.p7m", []byte("not a token"))
		if page.Status == http.StatusTooManyRequests {
			refused = page
			break
		}
	}
	if refused.Status != http.StatusTooManyRequests || refused.Header.Get("Retry-After") == "" {
		t.Fatalf("30 uploads in an instant from one session were all served (last %d)", refused.Status)
	}
	if m := b.Get("/metrics").Body; !strings.Contains(m, `depportal_rate_limited_total{limit="upload"}`) ||
		!strings.Contains(m, `depportal_rate_limited_total{limit="auth"}`) {
		t.Error("the refusals are not counted")
	}
}

// Every response but a static file says no-store: on a shared helpdesk PC nothing comes back
// from the browser's cache after sign-out. The route table itself is walked.
func TestEveryRouteIsNoStore(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, csrf := signedInHannah(t, p)
	avery := p.browser(t)
	testkit.MustSignIn(t, avery, "avery", "/audit")
	for _, r := range handlers.Routes(p.app.Config(), p.tenant) {
		path := strings.NewReplacer(":id", abmSoon, ":seq", "1", "*", "app.css").Replace(r.Path)
		for _, b := range []*testkit.Browser{hannah, avery, p.browser(t)} {
			var page testkit.Page
			if handlers.IsSafeMethod(r.Method) {
				page = b.Do(r.Method, path, nil, nil)
			} else {
				page = b.Do(r.Method, path, url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": p.url})
			}
			cc := page.Header.Get("Cache-Control")
			switch {
			case strings.HasPrefix(r.Path, "/static/"):
				if page.Status == http.StatusOK && cc == "no-store" {
					t.Errorf("%s %s: static files may be cached", r.Method, path)
				}
			case strings.HasPrefix(r.Path, "/_sandbox/"):
				// The stand-in for Entra ID and Graph answers as they do.
			case cc != "no-store":
				t.Errorf("%s %s (%d): Cache-Control %q, want no-store", r.Method, path, page.Status, cc)
			}
		}
	}
}

// Two GETs act in the person's name (an audited download): another site cannot start them.
func TestCrossSiteGETsThatActAreRefused(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	hannah, _ := signedInHannah(t, p)
	before := auditCount(t, p)
	for _, path := range []string{"/audit/export?format=csv", "/settings/" + abmSoon + "/public-key"} {
		page := hannah.Do(http.MethodGet, path, nil, map[string]string{"Sec-Fetch-Site": "cross-site"})
		if page.Status != http.StatusForbidden || !strings.Contains(page.Body, "Open this from depportal") {
			t.Errorf("cross-site %s: %d", path, page.Status)
		}
		for _, site := range []string{"same-origin", "none"} { // a link in the portal; the address bar
			if page := hannah.Do(http.MethodGet, path, nil, map[string]string{"Sec-Fetch-Site": site}); page.Status != http.StatusOK {
				t.Errorf("%s %s: %d", site, path, page.Status)
			}
		}
	}
	if n := auditCount(t, p) - before; n != 4 {
		t.Errorf("%d audit records, want 4 (two same-site downloads of each, none cross-site)", n)
	}
}

// Smaller findings: no folder listing; the cross-origin refusal is a page with our headers.
func TestStaticAndCrossOriginPages(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	anon := p.browser(t)
	if page := anon.Get("/static/"); page.Status != http.StatusNotFound || strings.Contains(page.Body, `href="app.css"`) {
		t.Errorf("/static/ lists its folder: %d", page.Status)
	}
	page := anon.Do(http.MethodPost, "/auth/logout", url.Values{}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
	if page.Status != http.StatusForbidden || !strings.Contains(page.Body, "This form came from another website") {
		t.Errorf("cross-origin POST: %d\n%s", page.Status, page.Body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if page.Header.Get(h) == "" {
			t.Errorf("the cross-origin refusal lacks %s", h)
		}
	}
}
