package handlers_test

import (
	"net/http"
	"strings"
	"testing"
)

// Every page: a skip link first, the sandbox banner in a landmark, the section shown marked
// current in the navigation, both colour schemes declared, and an icon that exists.
func TestLayoutServesEveryone(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, _ := signedInHannah(t, p)
	home := b.Get("/")
	skip := strings.Index(home.Body, `<a class="skip-link" href="#main">`)
	if skip < 0 || skip > strings.Index(home.Body, "sandbox-banner") {
		t.Errorf("the skip link is not the first thing on the page:\n%s", home.Body)
	}
	for _, want := range []string{
		`<aside class="sandbox-banner" aria-label="Sandbox">`,
		`<main id="main" tabindex="-1">`,
		`<a href="/" aria-current="page">Tokens</a>`,
		`<meta name="color-scheme" content="light dark">`,
		`<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">`,
	} {
		if !strings.Contains(home.Body, want) {
			t.Errorf("home lacks %q", want)
		}
	}
	if audit := b.Get("/audit"); !strings.Contains(audit.Body, `<a href="/audit" aria-current="page">Audit trail</a>`) || strings.Contains(audit.Body, `<a href="/" aria-current`) {
		t.Error("the audit trail is not the current section on its page")
	}
	for _, icon := range []string{"/static/favicon.svg", "/favicon.ico"} {
		if got := b.Get(icon); got.Status != http.StatusOK || got.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(got.Body, "<svg") {
			t.Errorf("%s: %d %q", icon, got.Status, got.Header.Get("Content-Type"))
		}
	}
}
