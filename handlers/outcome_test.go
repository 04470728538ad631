package handlers_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/sandbox"
)

// MustInjectFaults plays DEPPORTAL_SANDBOX_FAULTS-style faults on the simulator.
func MustInjectFaults(tb testing.TB, p *testPortal, spec string) {
	tb.Helper()
	faults, err := sandbox.ParseFaults(spec)
	if err != nil {
		tb.Fatal(err)
	}
	for op, fs := range faults {
		for _, f := range fs {
			p.tenant.Graph.InjectFault(op, f)
		}
	}
}

// uploadRecords lists the upload records after the review as "type/outcome".
func uploadRecords(tb testing.TB, p *testPortal) []string {
	tb.Helper()
	recs, _, err := p.app.Trail().Query(context.Background(), audit.Filter{}, 100, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if strings.HasPrefix(string(r.Type), "upload.") && r.Type != audit.UploadReviewed {
			out = append(out, string(r.Type)+"/"+string(r.Outcome))
		}
	}
	return out
}

// TestEveryUploadOutcome: every fault Intune can play on the upload × the page the person
// reads × the audit records × whether the duplicate check sees the upload × what Intune got.
// The rule: "renewed" only on 204 or a read-back proving it; "not renewed" only when nothing
// can have reached Intune or a read-back proves the old token is still there; else unknown.
func TestEveryUploadOutcome(t *testing.T) {
	t.Parallel()
	const (
		renewed    = "Token renewed"
		stillOld   = "Not renewed: Intune still holds the previous token"
		notKnown   = "We could not confirm whether Intune took the token"
		intent     = "upload.intent/pending"
		succeeded  = "upload.succeeded/success"
		failed     = "upload.failed/failure"
		unknown    = "upload.unknown/unknown"
		reconOK    = "upload.reconciled/success"
		reconOld   = "upload.reconciled/failure"
		reconNoIdx = "upload.reconciled/unknown"
	)
	tests := []struct {
		faults   string
		sample   sandbox.SampleKind
		state    string
		want     []string // on the page
		records  []string
		dup      bool // a second review of the same file warns it was sent
		received int  // uploads Intune received (none is ever resent after it may have acted)
		applied  bool
	}{
		{"", sandbox.SampleValid, "succeeded", []string{renewed, "204 No Content"}, []string{intent, succeeded}, true, 1, true},
		{"upload=429:120", sandbox.SampleValid, "failed", []string{"Intune is busy", "Intune asked to wait 120 seconds", "Try again", "Request ID"}, []string{intent, failed}, false, 1, false},
		{"upload=403", sandbox.SampleValid, "failed", []string{"Your Intune role does not allow this", "Update token"}, []string{intent, failed}, false, 1, false},
		// A 401 is Graph refusing before acting: one refresh and one resend, both refused. The
		// sign-in comes back to the result, whose "Try again" sends the same file.
		{"upload=401*always", sandbox.SampleValid, "failed", []string{"Please sign in again", "/auth/login?return_to=%2Fuploads%2F", "Try again"}, []string{intent, failed}, false, 2, false},
		// Renamed (no download time in its name), the expired sample gets past the review.
		{"", sandbox.SampleExpired, "failed", []string{"Intune rejected the token", "Activity ID"}, []string{intent, failed}, false, 1, false},
		// 5xx and lost answers: Intune may have acted. Never resent; the read-back decides.
		{"upload=500", sandbox.SampleValid, "failed", []string{stillOld, "Try again", "500 Internal Server Error"}, []string{intent, unknown, reconOld}, false, 1, false},
		{"upload=502", sandbox.SampleValid, "failed", []string{stillOld}, []string{intent, unknown, reconOld}, false, 1, false},
		{"upload=502html", sandbox.SampleValid, "failed", []string{stillOld}, []string{intent, unknown, reconOld}, false, 1, false},
		{"upload=503", sandbox.SampleValid, "failed", []string{stillOld}, []string{intent, unknown, reconOld}, false, 1, false},
		{"upload=504", sandbox.SampleValid, "failed", []string{stillOld, "504 Gateway Timeout"}, []string{intent, unknown, reconOld}, false, 1, false},
		{"upload=drop", sandbox.SampleValid, "failed", []string{stillOld}, []string{intent, unknown, reconOld}, false, 1, false},
		{"upload=500applied", sandbox.SampleValid, "succeeded", []string{renewed, "read back", "Do not download the token again"}, []string{intent, unknown, reconOK}, true, 1, true},
		{"upload=502applied", sandbox.SampleValid, "succeeded", []string{renewed, "read back"}, []string{intent, unknown, reconOK}, true, 1, true},
		{"upload=504applied", sandbox.SampleValid, "succeeded", []string{renewed, "read back", "504 Gateway Timeout"}, []string{intent, unknown, reconOK}, true, 1, true},
		{"upload=lost", sandbox.SampleValid, "succeeded", []string{renewed, "read back"}, []string{intent, unknown, reconOK}, true, 1, true},
		// Intune applied it, and nothing can be read back: honest about not knowing.
		{"upload=504applied,get=503*always", sandbox.SampleValid, "unknown", []string{notKnown, "504 Gateway Timeout", "Do not download the token again", "upload this same file again"}, []string{intent, unknown, reconNoIdx}, true, 1, true},
	}
	for _, tt := range tests {
		name := tt.faults
		if name == "" {
			name = "no fault"
		}
		t.Run(name+"/"+string(tt.sample), func(t *testing.T) {
			t.Parallel()
			p := newTestPortal(t, nil)
			b, csrf := signedInHannah(t, p)
			file := MustSample(t, p, abmSoon, tt.sample)
			name := file.FileName
			if tt.sample == sandbox.SampleExpired {
				name = "token.p7m"
			}
			review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", name, file.Data)
			MustInjectFaults(t, p, tt.faults)
			got := confirmReview(t, b, review, ackAll(review)...)
			if got.RedirectedFrom != http.StatusSeeOther || got.Status != http.StatusOK {
				t.Fatalf("confirm answered %d then %d, want 303 to the upload's page", got.RedirectedFrom, got.Status)
			}
			if state := `data-state="` + tt.state + `"`; !strings.Contains(got.Body, state) {
				t.Errorf("page is not %s:\n%s", state, got.Body)
			}
			for _, want := range tt.want {
				if !strings.Contains(got.Body, htmlEscape(want)) {
					t.Errorf("page lacks %q", want)
				}
			}
			if tt.state != "failed" || tt.records[len(tt.records)-1] == reconOld {
				// Only a refusal Intune itself gave may talk about downloading anew.
				if strings.Contains(strings.ToLower(got.Body), "download it once more") || strings.Contains(got.Body, "download the token again and") {
					t.Error("the page advises a new download")
				}
			}
			if strings.Contains(got.Body, `"error"`) {
				t.Error("raw JSON on the page")
			}
			if recs := uploadRecords(t, p); !slices.Equal(recs, tt.records) {
				t.Errorf("audit records %v, want %v", recs, tt.records)
			}
			rcv := p.tenant.Graph.Received()
			if len(rcv) != tt.received {
				t.Errorf("Intune received %d uploads, want %d", len(rcv), tt.received)
			}
			if applied := slices.ContainsFunc(rcv, func(r sandbox.ReceivedUpload) bool { return r.Applied }); applied != tt.applied {
				t.Errorf("applied %v, want %v", applied, tt.applied)
			}
			// The page is the same on reload.
			again := b.Get(got.Path)
			if !strings.Contains(again.Body, `data-state="`+tt.state+`"`) {
				t.Errorf("reload shows another state:\n%s", again.Body)
			}
			if tt.sample == sandbox.SampleValid {
				p.tenant.Graph.ClearFaults()
				second := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", file.FileName, file.Data)
				if dup := strings.Contains(second.Body, `name="ack" value="duplicate"`); dup != tt.dup {
					t.Errorf("duplicate check sees the upload: %v, want %v\n%s", dup, tt.dup, second.Body)
				}
			}
		})
	}
}
