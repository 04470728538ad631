package handlers

import (
	"net/http"
	"testing"
	"time"

	"github.com/depportal/depportal/sandbox"
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

// BenchmarkRenewal measures one whole renewal through the portal: the upload with its
// pre-flight (two Graph reads, the file inspection, a pending upload sealed and stored) and the
// confirmation (a Graph read, the upload, the read-back). The Intune simulator runs in-process;
// its share is reported apart as sim-ns/op, so portal-ns/op is the portal's own cost.
func BenchmarkRenewal(b *testing.B) {
	p := newTestPortal(b, nil)
	hannah := p.browser(b)
	home, _ := MustSignIn(b, hannah, "hannah", "/")
	csrf := csrfFrom(b, home.body)
	valid := MustSample(b, p, abmSoon, sandbox.SampleValid)
	p.simTime.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		review := hannah.postUpload(abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
		if got := hannah.confirm(review, ackAll(review)...); got.status != http.StatusOK {
			b.Fatalf("renewal: %d", got.status)
		}
	}
	total := time.Since(start)
	sim := time.Duration(p.simTime.Load())
	b.ReportMetric(float64(sim.Nanoseconds())/float64(b.N), "sim-ns/op")
	b.ReportMetric(float64((total-sim).Nanoseconds())/float64(b.N), "portal-ns/op")
}
