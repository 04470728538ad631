package handlers

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
	"github.com/depportal/depportal/sandbox"
)

// Finding 5: the ticks count whether the CSRF token comes as a form field or as a header.
func TestConfirmTicksWithCSRFHeader(t *testing.T) {
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := b.postUpload(abmSoon, csrf, "new-admin@contoso.com", valid.FileName, valid.Data)
	m := confirmAction.FindStringSubmatch(review.body)
	if m == nil {
		t.Fatalf("no confirm form:\n%s", review.body)
	}
	got := b.do(http.MethodPost, "/uploads/"+m[1]+"/confirm", map[string][]string{"ack": {"apple_id_change"}},
		map[string]string{"Origin": b.base, "X-CSRF-Token": csrf})
	if got.status == http.StatusUnprocessableEntity || strings.Contains(got.body, "Tick each box") {
		t.Fatalf("the tick was lost when the CSRF token came as a header: %d", got.status)
	}
	if n := len(p.tenant.Graph.Received()); n != 1 {
		t.Fatalf("Intune received %d uploads, want 1", n)
	}
}

// Finding 3: after a renewal, reload, Back and another person's view all tell the truth.
func TestUploadPageAfterRenewal(t *testing.T) {
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := b.postUpload(abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	if review.redirectedFrom != http.StatusSeeOther || !strings.HasPrefix(review.path, "/uploads/") {
		t.Fatalf("the review is not at its own address: %d %q", review.redirectedFrom, review.path)
	}
	if cc := review.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("review page Cache-Control %q, want no-store", cc)
	}
	result := b.confirm(review)
	if result.path != review.path {
		t.Errorf("result at %q, review at %q: Back would lead to another page", result.path, review.path)
	}
	// Reload and Back both GET the upload's address: the result, never a live confirm button.
	for i := range 2 {
		again := b.get(review.path)
		if again.status != http.StatusOK || !strings.Contains(again.body, "Token renewed") || confirmAction.MatchString(again.body) ||
			!strings.Contains(again.body, "by you") || strings.Contains(again.body, "expired") {
			t.Fatalf("visit %d of the upload's page after success: %d\n%s", i, again.status, again.body)
		}
	}
	// The person's other session (a new tab after signing in again) sees it too.
	other, _ := signedInHannah(t, p)
	if got := other.get(review.path); !strings.Contains(got.body, "Token renewed") {
		t.Errorf("the same person in another session: %d", got.status)
	}
	// An auditor finds it from the audit trail.
	avery := p.browser(t)
	MustSignIn(t, avery, "avery", "/audit")
	intent := MustOneRecord(t, p, audit.UploadIntent)
	detail := avery.get(fmt.Sprintf("/audit/%d", intent.Seq))
	if !strings.Contains(detail.body, `href="`+review.path+`"`) {
		t.Fatalf("the audit record does not link the renewal's page:\n%s", detail.body)
	}
	seen := avery.get(review.path)
	if seen.status != http.StatusOK || !strings.Contains(seen.body, "Token renewed") || !strings.Contains(seen.body, "by Hannah Helpdesk") {
		t.Errorf("auditor's view: %d\n%s", seen.status, seen.body)
	}
	if n := len(p.tenant.Graph.Received()); n != 1 {
		t.Errorf("Intune received %d uploads, want 1", n)
	}
}

// Finding 3: a second POST of the same review while the first is still at Intune waits for
// the first one's result instead of failing, and nothing is sent twice.
func TestSecondClickWaitsForTheFirst(t *testing.T) {
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := b.postUpload(abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	p.tenant.Graph.InjectFault(sandbox.OpUpload, sandbox.Fault{Latency: 1500 * time.Millisecond})
	m := confirmAction.FindStringSubmatch(review.body)
	form := map[string][]string{"csrf_token": {csrf}}

	// The first click is abandoned by the browser 300 ms in (JavaScript off, second click).
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.base+"/uploads/"+m[1]+"/confirm", strings.NewReader(url.Values(form).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	if _, err := b.client.Do(req); err == nil {
		t.Fatal("the first request should have been abandoned")
	}
	second := b.seeOther(b.do(http.MethodPost, "/uploads/"+m[1]+"/confirm", form, map[string]string{"Origin": b.base}))
	if second.status != http.StatusOK || !strings.Contains(second.body, "Token renewed") {
		t.Fatalf("second click: %d\n%s", second.status, second.body)
	}
	rcv := p.tenant.Graph.Received()
	if len(rcv) != 1 || !rcv[0].Applied {
		t.Errorf("Intune received %+v, want one applied upload", rcv)
	}
	if recs := uploadRecords(t, p); !slices.Equal(recs, []string{"upload.intent/pending", "upload.succeeded/success"}) {
		t.Errorf("audit records %v", recs)
	}
}
