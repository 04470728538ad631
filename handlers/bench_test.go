package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

// BenchmarkSignedInPage measures one signed-in page view through the whole stack: session
// lookup in SQLite, guard, CSP nonce, templ rendering, access log.
func BenchmarkSignedInPage(b *testing.B) {
	p := newTestPortal(b, nil)
	hannah := p.browser(b)
	testkit.MustSignIn(b, hannah, "hannah", "/")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if got := hannah.Get("/"); got.Status != http.StatusOK {
			b.Fatalf("status %d", got.Status)
		}
	}
}

// BenchmarkPageWithConnectorBanner measures a signed-in page that reads no Graph (the audit
// trail) with the watch on: its banner comes from the watch's last read in the database.
func BenchmarkPageWithConnectorBanner(b *testing.B) {
	for _, watch := range []bool{false, true} {
		b.Run(map[bool]string{false: "watch-off", true: "watch-on"}[watch], func(b *testing.B) {
			p := newTestPortalWith(b, nil, func(o *app.Options) { o.Sandbox.Watch = watch })
			hannah := p.browser(b)
			testkit.MustSignIn(b, hannah, "hannah", "/")
			for deadline := time.Now().Add(10 * time.Second); watch; time.Sleep(20 * time.Millisecond) {
				if strings.Contains(hannah.Get("/audit").Body, `data-testid="connector-banner"`) {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("no banner")
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if got := hannah.Get("/audit"); got.Status != http.StatusOK {
					b.Fatalf("status %d", got.Status)
				}
			}
		})
	}
}

// BenchmarkSignIn measures a complete sign-in: login redirect, the sandbox provider's
// authorize and persona steps, code exchange, ID token checks and a new session.
//
// Every sign-in comes from the same address, so the portal's clock moves 10 s between them: the
// /auth budget (decision 0009) is for floods, and a benchmark is one.
func BenchmarkSignIn(b *testing.B) {
	clock := testkit.NewClock()
	p := newTestPortalWith(b, nil, func(o *app.Options) { o.Now = clock.Now })
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		testkit.MustSignIn(b, p.browser(b), "hannah", "/")
		clock.Advance(10 * time.Second)
	}
}

// BenchmarkRenewal measures one whole renewal through the portal: the upload with its
// pre-flight (two Graph reads, the file inspection, a pending upload sealed and stored) and the
// confirmation (a Graph read, the upload, the read-back). The Intune simulator runs in-process;
// its share is reported apart as sim-ns/op, so portal-ns/op is the portal's own cost.
func BenchmarkRenewal(b *testing.B) {
	p := newTestPortal(b, nil)
	hannah := p.browser(b)
	home, _ := testkit.MustSignIn(b, hannah, "hannah", "/")
	csrf := csrfFrom(b, home.Body)
	valid := MustSample(b, p, abmSoon, sandbox.SampleValid)
	p.simTime.Store(0)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		review := postUpload(b, hannah, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
		if got := confirmReview(b, hannah, review, ackAll(review)...); got.Status != http.StatusOK {
			b.Fatalf("renewal: %d", got.Status)
		}
	}
	total := time.Since(start)
	sim := time.Duration(p.simTime.Load())
	b.ReportMetric(float64(sim.Nanoseconds())/float64(b.N), "sim-ns/op")
	b.ReportMetric(float64((total-sim).Nanoseconds())/float64(b.N), "portal-ns/op")
}

// BenchmarkRenewalRoundTrips measures what a person waits for when every Graph call takes
// 400 ms (the sandbox's latency fault on every operation): the review should cost about one
// Graph round trip (the setting and its public key are read side by side) and the
// confirmation about two (the upload, then the read-back of the new expiry).
func BenchmarkRenewalRoundTrips(b *testing.B) {
	const rtt = 400 * time.Millisecond
	p := newTestPortal(b, nil)
	hannah := p.browser(b)
	home, _ := testkit.MustSignIn(b, hannah, "hannah", "/")
	csrf := csrfFrom(b, home.Body)
	valid := MustSample(b, p, abmSoon, sandbox.SampleValid)
	for _, op := range []sandbox.Operation{sandbox.OpGet, sandbox.OpPublicKey, sandbox.OpUpload} {
		p.tenant.Graph.InjectFault(op, sandbox.Fault{Latency: rtt, Times: sandbox.Always})
	}
	var review, confirm time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		rv := postUpload(b, hannah, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
		t1 := time.Now()
		if got := confirmReview(b, hannah, rv, ackAll(rv)...); got.Status != http.StatusOK || !strings.Contains(got.Body, "Token renewed") {
			b.Fatalf("renewal: %d", got.Status)
		}
		review += t1.Sub(t0)
		confirm += time.Since(t1)
	}
	b.ReportMetric(float64(review.Milliseconds())/float64(b.N), "review-ms/op")
	b.ReportMetric(float64(confirm.Milliseconds())/float64(b.N), "confirm-ms/op")
	b.ReportMetric(review.Seconds()/float64(b.N)/rtt.Seconds(), "review-rtts/op")
	b.ReportMetric(confirm.Seconds()/float64(b.N)/rtt.Seconds(), "confirm-rtts/op")
}
