package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/depportal/depportal/internal/testkit"
)

// Conditional Access wants a step-up while Hannah confirms: Graph answers the upload with a
// claims challenge. She goes through the provider's sign-in (asked for the claims) and comes
// back to the review of the same file, confirms again, and the token is renewed.
func TestClaimsChallengeDuringConfirmation(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t, "DEPPORTAL_SANDBOX_FAULTS=upload=claims")
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")
	valid := MustDownloadSample(t, p, abmSoon+"/valid")
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", valid)

	MustDo(t, ctx, chromedp.Click(chromedp.ID("confirm-upload")), chromedp.WaitVisible(chromedp.ID("persona-hannah")))
	if loc := MustGet(t, ctx, chromedp.Location()); !strings.Contains(loc, "/_sandbox/idp/") {
		t.Fatalf("after the claims challenge the browser is at %s, want the provider's sign-in", loc)
	}
	MustDo(t, ctx, chromedp.Click(chromedp.ID("persona-hannah")), chromedp.WaitVisible(chromedp.ID("confirm-upload")), screenshot("23-review-after-step-up"))
	if loc := MustGet(t, ctx, chromedp.Location()); !strings.Contains(loc, "/uploads/") {
		t.Errorf("after the step-up the browser is at %s, want the review", loc)
	}
	if page := text(t, ctx, "main"); !strings.Contains(page, filepath.Base(valid)) {
		t.Errorf("the review does not show the file kept: %s", page)
	}
	MustDo(t, ctx, chromedp.Click(chromedp.ID("confirm-upload")), chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))
	if !strings.Contains(p.out.String(), "claims fault met") {
		t.Errorf("the simulator never saw a token with the authentication context:\n%s", p.out.String())
	}
}
