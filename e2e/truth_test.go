package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/depportal/depportal/internal/testkit"
)

// receivedUploads reads what the sandbox's Intune received (it syncs each line to disk).
func receivedUploads(tb testing.TB, p *portal) []map[string]any {
	tb.Helper()
	f, err := os.Open(filepath.Join(p.DataDir, "sandbox-graph-received.jsonl"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			tb.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// mustNotAdviseDownload fails when the page tells the person to download the token again:
// after an upload Intune may hold, that download would invalidate it.
func mustNotAdviseDownload(tb testing.TB, ctx context.Context, where string) {
	tb.Helper()
	// The page's own warning against downloading is the one place the word may appear.
	body := strings.ToLower(MustGet(tb, ctx, chromedp.Evaluate[string](`(() => {
		const main = document.querySelector("main").cloneNode(true);
		main.querySelectorAll('[data-testid="no-download"]').forEach(n => n.remove());
		return main.innerText;
	})()`)))
	if strings.Contains(body, "download") {
		tb.Errorf("%s: the page speaks of downloading:\n%s", where, body)
	}
}

func uploadPageState(tb testing.TB, ctx context.Context) string {
	tb.Helper()
	return MustGet(tb, ctx, chromedp.Evaluate[string](`(document.querySelector('[data-testid="upload-result"]') || {dataset: {}}).dataset.state || ""`))
}

// TestRenewalPagesTellTheTruth: renew, reload the result, go Back, renew the same file again,
// and double click with JavaScript off while Intune takes 2 s. Every page says what happened,
// none advises a new download, and Intune gets exactly one upload per confirmation.
func TestRenewalPagesTellTheTruth(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t, "DEPPORTAL_SANDBOX_FAULTS=upload=latency:2s*always")
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")
	valid := MustDownloadSample(t, p, abmSoon+"/valid")

	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", valid)
	reviewURL := MustGet(t, ctx, chromedp.Location())
	if !strings.Contains(reviewURL, "/uploads/") {
		t.Fatalf("the review is at %s, not at the upload's own address", reviewURL)
	}
	MustDo(t, ctx, chromedp.Click(chromedp.ID("confirm-upload")), chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))
	if got := uploadPageState(t, ctx); got != "succeeded" {
		t.Fatalf("result state %q", got)
	}
	mustNotAdviseDownload(t, ctx, "result")
	if n := len(receivedUploads(t, p)); n != 1 {
		t.Fatalf("Intune received %d uploads after one confirmation", n)
	}

	// Reload (F5): the same result, not "expired".
	MustDo(t, ctx, chromedp.Reload(), chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))
	mustNotAdviseDownload(t, ctx, "reloaded result")

	// Back: the review's address now shows what happened to it, with no live button.
	MustDo(t, ctx, chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS(`[data-testid="upload-result"]`)))
	if got := uploadPageState(t, ctx); got != "succeeded" {
		t.Errorf("Back shows state %q", got)
	}
	if n := MustGet(t, ctx, chromedp.Evaluate[int](`document.querySelectorAll("#confirm-upload").length`)); n != 0 {
		t.Error("Back shows a live renew button")
	}
	mustNotAdviseDownload(t, ctx, "after Back")

	// The same file again: the review says it was just uploaded, by whom; confirming is one upload.
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", valid)
	if checks := text(t, ctx, `[data-testid="checks"]`); !strings.Contains(checks, "Already uploaded") || !strings.Contains(checks, "by you") {
		t.Errorf("second review does not say the file was uploaded: %s", checks)
	}
	MustDo(t, ctx, chromedp.Click(chromedp.CSS(`input[name="ack"]`)), chromedp.Click(chromedp.ID("confirm-upload")),
		chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))
	if n := len(receivedUploads(t, p)); n != 2 {
		t.Fatalf("Intune received %d uploads after two confirmations", n)
	}

	// JavaScript off (nothing disables the button), double click 0.8 s apart while Intune
	// takes 2 s: the browser abandons the first request; the server carries it through.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", valid)
	MustDo(t, ctx, chromedp.Click(chromedp.CSS(`input[name="ack"]`)), screenshot("18-review-duplicate"))
	// Mouse clicks at the button's place: a second click must not wait for the first's page.
	box := MustGet(t, ctx, chromedp.Dimensions(chromedp.ID("confirm-upload")))
	x, y := (box.Content[0]+box.Content[2])/2, (box.Content[1]+box.Content[5])/2
	MustDo(t, ctx, chromedp.MouseClickXY(x, y))
	time.Sleep(800 * time.Millisecond)
	MustDo(t, ctx, chromedp.MouseClickXY(x, y))
	MustDo(t, ctx, chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))
	mustNotAdviseDownload(t, ctx, "double click")
	got := receivedUploads(t, p)
	if len(got) != 3 {
		t.Fatalf("Intune received %d uploads after three confirmations (one double clicked)", len(got))
	}
	for i, r := range got {
		if r["applied"] != true {
			t.Errorf("upload %d not applied: %v", i, r)
		}
	}
	// Both clicks reached the portal: four confirm requests for three confirmations.
	if n := strings.Count(p.out.String(), "route=/uploads/:id/confirm"); n != 4 {
		t.Errorf("%d confirm requests in the log, want 4 (the double click sends two)", n)
	}
	if strings.Contains(p.out.String(), "upload.unknown") {
		t.Error("the abandoned first click left an unknown outcome in the log")
	}
}

// TestLostAnswerIsReconciled: Intune applies the token and its gateway answers 504. The page
// says the renewal worked, because reading the token back proves it.
func TestLostAnswerIsReconciled(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t, "DEPPORTAL_SANDBOX_FAULTS=upload=504applied")
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, abmSoon+"/valid"))
	MustDo(t, ctx, chromedp.Click(chromedp.ID("confirm-upload")), chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`), screenshot("19-renewed-after-504"))
	body := text(t, ctx, "main")
	if !strings.Contains(body, "read back") || !strings.Contains(body, "504") {
		t.Errorf("the page does not say how it knows: %s", body)
	}
	mustNotAdviseDownload(t, ctx, "reconciled result")
}
