package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/depportal/depportal/internal/testkit"
)

func TestAuditorFindsFiltersAndExportsARenewal(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)

	// Hannah renews a token.
	hannah := MustBrowser(t)
	signInAs(t, hannah, p, "hannah", "")
	uploadForReview(t, hannah, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, abmSoon+"/valid"))
	MustDo(t, hannah, chromedp.Click(chromedp.ID("confirm-upload")), chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))

	// Avery, the auditor, finds it a moment later.
	avery := MustBrowser(t)
	signInAs(t, avery, p, "avery", "")
	MustDo(t, avery, chromedp.Navigate(p.URL+"/audit"), chromedp.WaitVisible(chromedp.ID("checkpoint")))
	if _, err := chromedp.RunResponse(avery, chromedp.Click(chromedp.ID("checkpoint"))); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	MustDo(t, avery, chromedp.WaitVisible(`//div[contains(., "records up to then are intact")]`), screenshot("20-audit-trail"))
	all := text(t, avery, `[data-testid="audit-records"]`)
	for _, want := range []string{"File checked", "Renewal sent", "Token renewed", "Hannah Helpdesk", "Contoso ABM"} {
		if !strings.Contains(all, want) {
			t.Errorf("audit trail lacks %q", want)
		}
	}
	MustDo(t, avery, chromedp.SetValue(chromedp.CSS(`select[name="type"]`), "upload.succeeded"))
	// The click navigates: wait for the new page's response, not for the old table.
	if _, err := chromedp.RunResponse(avery, chromedp.Click(chromedp.ID("filter"))); err != nil {
		t.Fatalf("filter: %v", err)
	}
	MustDo(t, avery, chromedp.WaitReady(`//select[@name="type"]/option[@selected and @value="upload.succeeded"]`), screenshot("21-audit-filtered"))
	filtered := text(t, avery, `[data-testid="audit-records"]`)
	if strings.Contains(filtered, "Renewal sent") || !strings.Contains(filtered, "Token renewed") {
		t.Errorf("filtered trail: %s", filtered)
	}
	if _, err := chromedp.RunResponse(avery, chromedp.Click(chromedp.CSS(`[data-testid="audit-records"] tbody tr a`))); err != nil {
		t.Fatalf("open record: %v", err)
	}
	MustDo(t, avery, chromedp.WaitVisible(`//h1[contains(., "Audit record")]`), screenshot("22-audit-record"))
	detail := text(t, avery, "main")
	for _, want := range []string{"Graph request ID", "Client request ID", "204 No Content", "Intent record", "Hash"} {
		if !strings.Contains(detail, want) {
			t.Errorf("record detail lacks %q", want)
		}
	}
	// Export what the filter shows, as the browser would download it.
	MustDo(t, avery, chromedp.Navigate(p.URL+"/audit?type=upload.succeeded"), chromedp.WaitVisible(chromedp.ID("export-csv")))
	csv := MustGet(t, avery, chromedp.Evaluate[string](
		`fetch(document.getElementById("export-csv").href).then(function (r) { return r.text() })`,
		chromedp.EvalAwaitPromise))
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "seq,time,type") || !strings.Contains(lines[1], "upload.succeeded") {
		t.Errorf("exported CSV:\n%s", csv)
	}
}
