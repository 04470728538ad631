package e2e

import (
	"context"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/depportal/depportal/internal/testkit"
)

const abmSoon = "0b6f9a4e-2c1d-4e8f-9a3b-5d7c1e2f4a61" // Contoso ABM, expires in 9 days

// MustDownloadSample saves a sandbox sample file under the name Apple gives it, as a person's
// browser would, and returns its path.
func MustDownloadSample(tb testing.TB, p *portal, path string) string {
	tb.Helper()
	resp, err := http.Get(p.URL + "/_sandbox/tokens/" + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("sample %s: %d", path, resp.StatusCode)
	}
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition"))
	if err != nil || params["filename"] == "" {
		tb.Fatalf("sample %s has no file name: %v", path, err)
	}
	file := filepath.Join(tb.TempDir(), filepath.Base(params["filename"]))
	if err := os.WriteFile(file, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return file
}

// uploadForReview fills in the renewal form for a token and submits it.
func uploadForReview(tb testing.TB, ctx context.Context, p *portal, settingID, appleID, file string) {
	tb.Helper()
	MustDo(tb, ctx,
		chromedp.Navigate(p.URL+"/settings/"+settingID),
		chromedp.WaitVisible(chromedp.ID("token_file")),
		chromedp.SetValue(chromedp.ID("apple_id"), appleID),
		chromedp.SetUploadFiles(chromedp.ID("token_file"), []string{file}),
		chromedp.Click(chromedp.ID("check-file")),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="checks"]`)),
	)
}

func TestHannahRenewsAToken(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="tokens"]`)), screenshot("10-token-list"))
	if list := text(t, ctx, `[data-testid="tokens"]`); !strings.Contains(list, "Contoso ABM") || !strings.Contains(list, "9 days left") {
		t.Fatalf("token list: %s", list)
	}

	MustDo(t, ctx, chromedp.Click(chromedp.ID("renew-"+abmSoon)), chromedp.WaitVisible(chromedp.ID("token_file")), screenshot("11-renewal-form"))
	valid := MustDownloadSample(t, p, abmSoon+"/valid")
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", valid)
	MustDo(t, ctx, screenshot("12-review-pass"))
	if checks := text(t, ctx, `[data-testid="checks"]`); strings.Contains(checks, "Failed") || !strings.Contains(checks, "Made for this token's key") {
		t.Fatalf("review: %s", checks)
	}

	MustDo(t, ctx, chromedp.Click(chromedp.ID("confirm-upload")), chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`), screenshot("13-renewed"))
	inAYear := time.Now().AddDate(1, 0, 0).UTC().Format("2 Jan 2006")
	if expiry := text(t, ctx, `[data-testid="new-expiry"]`); !strings.Contains(expiry, inAYear) {
		t.Errorf("new expiry %q, want %s", expiry, inAYear)
	}
	if support := text(t, ctx, `[data-testid="support"]`); !strings.Contains(support, "Request ID") || !strings.Contains(support, "Client request ID") {
		t.Errorf("support facts: %s", support)
	}
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="tokens"]`)))
	if list := text(t, ctx, `[data-testid="tokens"]`); !strings.Contains(list, inAYear) {
		t.Errorf("home does not show the new expiry %s: %s", inAYear, list)
	}
}

func TestPreflightStopsWrongFiles(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")

	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, abmSoon+"/wrong-key"))
	MustDo(t, ctx, screenshot("14-review-wrong-key"))
	if checks := text(t, ctx, `[data-testid="checks"]`); !strings.Contains(checks, "Made for an MDM server this tenant does not hold") {
		t.Errorf("wrong key not explained: %s", checks)
	}
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.CSS(".public-key-link")))
	if n := MustGet(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#confirm-upload").length`)); n != 0 {
		t.Error("a failed review offers to renew")
	}

	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, "vpptoken"))
	MustDo(t, ctx, screenshot("15-review-vpptoken"))
	if checks := text(t, ctx, `[data-testid="checks"]`); !strings.Contains(checks, "Apps and Books") {
		t.Errorf(".vpptoken not named: %s", checks)
	}
}

func TestChangedAppleIDNeedsTheTickBox(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")
	uploadForReview(t, ctx, p, abmSoon, "new-admin@contoso.com", MustDownloadSample(t, p, abmSoon+"/valid"))
	MustDo(t, ctx, screenshot("16-review-apple-id-warning"))
	if checks := text(t, ctx, `[data-testid="checks"]`); !strings.Contains(checks, "does not affect enrolled devices") {
		t.Errorf("no Apple ID warning: %s", checks)
	}
	// The browser will not submit without the tick (required); with it the renewal goes through.
	MustDo(t, ctx, chromedp.Click(chromedp.ID("confirm-upload")))
	if loc := MustGet(t, ctx, chromedp.Location()); strings.Contains(loc, "/confirm") {
		t.Errorf("submitted without the tick: %s", loc)
	}
	MustDo(t, ctx,
		chromedp.Click(chromedp.ID("ack-apple_id_change")),
		chromedp.Click(chromedp.ID("confirm-upload")),
		chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`),
	)
}

func TestIntuneRejectionShowsRequestIDs(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")
	// Renamed, the expired sample no longer tells its download time: it passes the pre-flight
	// (right key) and Intune refuses it.
	expired := MustDownloadSample(t, p, abmSoon+"/expired")
	renamed := filepath.Join(filepath.Dir(expired), "token.p7m")
	if err := os.Rename(expired, renamed); err != nil {
		t.Fatal(err)
	}
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", renamed)
	MustGet(t, ctx, chromedp.Evaluate[bool](`document.querySelectorAll("input[name=ack]").forEach(function (b) { b.checked = true }); true`))
	MustDo(t, ctx, chromedp.Click(chromedp.ID("confirm-upload")), chromedp.WaitVisible(`//h1[contains(., "Intune rejected the token")]`), screenshot("17-intune-rejected"))
	body := text(t, ctx, "main")
	for _, want := range []string{"Request ID", "Client request ID", "Activity ID", "Intune said: “The DEP token is invalid"} {
		if !strings.Contains(body, want) {
			t.Errorf("rejection page lacks %q", want)
		}
	}
	if strings.Contains(body, "another MDM server") {
		t.Error("the rejection suggests another key, though the review matched it")
	}
}

func TestNoraCannotReachTheForm(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "nora", "")
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/settings/"+abmSoon), chromedp.WaitVisible(chromedp.CSS("main h1")))
	if h1 := text(t, ctx, "main h1"); h1 != "You need a depportal role" {
		t.Errorf("Nora on the renewal form sees %q", h1)
	}
	if n := MustGet(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#token_file").length`)); n != 0 {
		t.Error("Nora sees the file input")
	}
}

func TestSandboxHomeOffersTheSamples(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/_sandbox/"), chromedp.WaitVisible(chromedp.CSS("main, body")), screenshot("00-sandbox-home"))
	body := text(t, ctx, "body")
	for _, want := range []string{"Hannah Helpdesk", "Contoso ABM", "Contoso Schools ASM", "wrong", "vpptoken"} {
		if !strings.Contains(strings.ToLower(body), strings.ToLower(want)) {
			t.Errorf("sandbox home lacks %q", want)
		}
	}
	n := MustGet(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll('a[href^="/_sandbox/tokens/"]').length`))
	if n < 11 {
		t.Errorf("%d sample links, want 3 per token and 2 wrong files", n)
	}
}
