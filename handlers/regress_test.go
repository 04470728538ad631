package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

// Finding 5: the ticks count whether the CSRF token comes as a form field or as a header.
func TestConfirmTicksWithCSRFHeader(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "new-admin@contoso.com", valid.FileName, valid.Data)
	m := confirmAction.FindStringSubmatch(review.Body)
	if m == nil {
		t.Fatalf("no confirm form:\n%s", review.Body)
	}
	got := b.Do(http.MethodPost, "/uploads/"+m[1]+"/confirm", map[string][]string{"ack": {"apple_id_change"}},
		map[string]string{"Origin": b.Base, "X-CSRF-Token": csrf})
	if got.Status == http.StatusUnprocessableEntity || strings.Contains(got.Body, "Tick each box") {
		t.Fatalf("the tick was lost when the CSRF token came as a header: %d", got.Status)
	}
	if n := len(p.tenant.Graph.Received()); n != 1 {
		t.Fatalf("Intune received %d uploads, want 1", n)
	}
}

// Finding 3: after a renewal, reload, Back and another person's view all tell the truth.
func TestUploadPageAfterRenewal(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	if review.RedirectedFrom != http.StatusSeeOther || !strings.HasPrefix(review.Path, "/uploads/") {
		t.Fatalf("the review is not at its own address: %d %q", review.RedirectedFrom, review.Path)
	}
	if cc := review.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("review page Cache-Control %q, want no-store", cc)
	}
	result := confirmReview(t, b, review)
	if result.Path != review.Path {
		t.Errorf("result at %q, review at %q: Back would lead to another page", result.Path, review.Path)
	}
	// Reload and Back both GET the upload's address: the result, never a live confirm button.
	for i := range 2 {
		again := b.Get(review.Path)
		if again.Status != http.StatusOK || !strings.Contains(again.Body, "Token renewed") || confirmAction.MatchString(again.Body) ||
			!strings.Contains(again.Body, "by you") || strings.Contains(again.Body, "expired") {
			t.Fatalf("visit %d of the upload's page after success: %d\n%s", i, again.Status, again.Body)
		}
	}
	// The person's other session (a new tab after signing in again) sees it too.
	other, _ := signedInHannah(t, p)
	if got := other.Get(review.Path); !strings.Contains(got.Body, "Token renewed") {
		t.Errorf("the same person in another session: %d", got.Status)
	}
	// An auditor finds it from the audit trail.
	avery := p.browser(t)
	testkit.MustSignIn(t, avery, "avery", "/audit")
	intent := MustOneRecord(t, p, audit.UploadIntent)
	detail := avery.Get(fmt.Sprintf("/audit/%d", intent.Seq))
	if !strings.Contains(detail.Body, `href="`+review.Path+`"`) {
		t.Fatalf("the audit record does not link the renewal's page:\n%s", detail.Body)
	}
	seen := avery.Get(review.Path)
	if seen.Status != http.StatusOK || !strings.Contains(seen.Body, "Token renewed") || !strings.Contains(seen.Body, "by Hannah Helpdesk") {
		t.Errorf("auditor's view: %d\n%s", seen.Status, seen.Body)
	}
	if n := len(p.tenant.Graph.Received()); n != 1 {
		t.Errorf("Intune received %d uploads, want 1", n)
	}
}

// Finding 3: a second POST of the same review while the first is still at Intune waits for
// the first one's result instead of failing, and nothing is sent twice.
func TestSecondClickWaitsForTheFirst(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	p.tenant.Graph.InjectFault(sandbox.OpUpload, sandbox.Fault{Latency: 1500 * time.Millisecond})
	m := confirmAction.FindStringSubmatch(review.Body)
	form := map[string][]string{"csrf_token": {csrf}}

	// The first click is abandoned by the browser 300 ms in (JavaScript off, second click).
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.Base+"/uploads/"+m[1]+"/confirm", strings.NewReader(url.Values(form).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.Base)
	if _, err := b.Client.Do(req); err == nil {
		t.Fatal("the first request should have been abandoned")
	}
	second := b.SeeOther(b.Do(http.MethodPost, "/uploads/"+m[1]+"/confirm", form, map[string]string{"Origin": b.Base}))
	if second.Status != http.StatusOK || !strings.Contains(second.Body, "Token renewed") {
		t.Fatalf("second click: %d\n%s", second.Status, second.Body)
	}
	rcv := p.tenant.Graph.Received()
	if len(rcv) != 1 || !rcv[0].Applied {
		t.Errorf("Intune received %+v, want one applied upload", rcv)
	}
	if recs := uploadRecords(t, p); !slices.Equal(recs, []string{"upload.intent/pending", "upload.succeeded/success"}) {
		t.Errorf("audit records %v", recs)
	}
}
