package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

var authRequestIDField = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// signInFrom walks a sign-in that the portal itself started at loginTarget (a redirect the
// portal answered with), picking persona on the provider's page, and returns where it lands.
func signInFrom(tb testing.TB, b *testkit.Browser, loginTarget, persona string) (testkit.Page, string) {
	tb.Helper()
	page, at := b.Follow(loginTarget)
	m := authRequestIDField.FindStringSubmatch(page.Body)
	if m == nil {
		tb.Fatalf("no persona page at %s: %d %s", at, page.Status, page.Body)
	}
	u, _ := url.Parse(at)
	resp := b.Do(http.MethodPost, u.Path, url.Values{"authRequestID": {m[1]}, "persona": {persona}}, map[string]string{"Origin": b.Base})
	return b.Follow(resp.Header.Get("Location"))
}

// Conditional Access wants a step-up while Hannah confirms a renewal: Graph answers the upload
// with a claims challenge. She goes straight through sign-in with those claims and comes back
// to the review of the same checked file (kept for it); confirmed again, it renews.
func TestClaimsChallengeDuringConfirmation(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, map[string]string{"DEPPORTAL_SANDBOX_FAULTS": "upload=claims"})
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	m := confirmAction.FindStringSubmatch(review.Body)
	if m == nil {
		t.Fatalf("no review: %d %s", review.Status, review.Body)
	}
	uploadPath := "/uploads/" + m[1]

	sent := b.Do(http.MethodPost, uploadPath+"/confirm", url.Values{"csrf_token": {csrfFrom(t, review.Body)}}, map[string]string{"Origin": b.Base})
	loc, err := url.Parse(sent.Header.Get("Location"))
	if sent.Status != http.StatusSeeOther || err != nil || loc.Path != "/auth/login" || !strings.HasPrefix(loc.Query().Get("return_to"), "/uploads/") ||
		loc.Query().Get("claims") == "" {
		t.Fatalf("confirm answered %d %s, want a sign-in with the claims, back to an upload's page", sent.Status, sent.Header.Get("Location"))
	}
	keptPath := loc.Query().Get("return_to")
	// The provider is asked for the challenge's claims, with the client capability.
	start := b.Get(loc.String())
	if authorize, _ := url.Parse(start.Header.Get("Location")); !strings.Contains(authorize.Query().Get("claims"), `"acrs"`) ||
		!strings.Contains(authorize.Query().Get("claims"), `"cp1"`) {
		t.Fatalf("authorize request claims %q", authorize.Query().Get("claims"))
	}

	back, at := signInFrom(t, b, loc.String(), "hannah")
	if !strings.HasSuffix(at, keptPath) || back.Status != http.StatusOK || !strings.Contains(back.Body, valid.FileName) ||
		!strings.Contains(back.Body, `action="`+keptPath+`/confirm"`) || !strings.Contains(back.Body, `data-testid="checks"`) {
		t.Fatalf("after the step-up landed on %s (%d), want the review of the same file:\n%s", at, back.Status, back.Body)
	}
	// The first attempt's page says what happened, and leads to the same kept file.
	if first := b.Get(uploadPath); !strings.Contains(first.Body, "asked for a fresh sign-in") || !strings.Contains(first.Body, keptPath+"/confirm") {
		t.Errorf("the challenged attempt's page: %s", first.Body)
	}
	done := confirmReview(t, b, back)
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "Token renewed") {
		t.Errorf("after the step-up: %d %s", done.Status, done.Body)
	}
	got := p.tenant.Graph.Received()
	if len(got) != 2 || got[0].Status != http.StatusUnauthorized || got[0].Applied || got[1].Status != http.StatusNoContent {
		t.Errorf("Intune saw %+v, want the challenged attempt then the renewal", got)
	}
	if recs := MustRecords(t, p, audit.UploadIntent); len(recs) != 2 {
		t.Errorf("%d upload.intent records, want 2 (one per attempt)", len(recs))
	}
	if failed := MustOneRecord(t, p, audit.UploadFailed); !strings.Contains(failed.Reason, "insufficient-claims") || failed.Graph.Status != http.StatusUnauthorized {
		t.Errorf("the challenged attempt is recorded as %+v", failed)
	}
}
