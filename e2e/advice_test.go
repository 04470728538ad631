package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/depportal/depportal/internal/testkit"
)

// The two files the review must stop before Intune sees them, as a person meets them: the
// expired sample stops at the review; the Contoso Schools ASM file given to Contoso ABM is
// named as that token's and renews it from the same file, uploaded once.
func TestWrongTokenAndExpiredFiles(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")

	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, abmSoon+"/expired"))
	if stopped := text(t, ctx, `[data-testid="stopped"]`); !strings.Contains(stopped, "This file expired on") {
		t.Errorf("the expired sample is not stopped as expired: %q", stopped)
	}
	if n := MustGet(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#confirm-upload").length`)); n != 0 {
		t.Error("an expired file can be sent")
	}

	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, asmToken+"/valid"))
	MustDo(t, ctx, screenshot("24-review-another-tokens-file"))
	if stopped := text(t, ctx, `[data-testid="stopped"]`); !strings.Contains(stopped, "This file is the server token for Contoso Schools ASM") {
		t.Errorf("the ASM file is not named as Contoso Schools ASM's: %q", stopped)
	}
	if n := MustGet(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#confirm-upload, .public-key-link").length`)); n != 0 {
		t.Error("another token's file offers to renew this token or to re-key it")
	}
	if id := MustGet(t, ctx, chromedp.Evaluate[string](`document.getElementById("other_apple_id").value`)); id != "asm-admin@contoso.edu" {
		t.Errorf("the Apple ID offered for Contoso Schools ASM is %q", id)
	}
	click(t, ctx, chromedp.ID("renew-other"))
	MustDo(t, ctx, chromedp.WaitVisible(`//h1[contains(., "Check before renewing Contoso Schools ASM")]`))
	click(t, ctx, chromedp.ID("confirm-upload"))
	MustDo(t, ctx, chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))
	got := receivedUploads(t, p)
	if len(got) != 1 || got[0]["settingId"] != asmToken || got[0]["applied"] != true {
		t.Errorf("Intune received %v, want one upload to Contoso Schools ASM", got)
	}
}
