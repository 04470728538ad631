package handlers

import (
	"net/http"
	"testing"
)

// BenchmarkSignedInPage measures one signed-in page view through the whole stack: session
// lookup in SQLite, guard, CSP nonce, templ rendering, access log.
func BenchmarkSignedInPage(b *testing.B) {
	p := newTestPortal(b, nil)
	hannah := p.browser(b)
	MustSignIn(b, hannah, "hannah", "/")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := hannah.get("/"); got.status != http.StatusOK {
			b.Fatalf("status %d", got.status)
		}
	}
}

// BenchmarkSignIn measures a complete sign-in: login redirect, the sandbox provider's
// authorize and persona steps, code exchange, ID token checks and a new session.
func BenchmarkSignIn(b *testing.B) {
	p := newTestPortal(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		MustSignIn(b, p.browser(b), "hannah", "/")
	}
}
