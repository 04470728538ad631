package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/depportal/depportal/internal/testkit"
)

// Every page of the sandbox journey, as each persona, is checked in light and dark at 1280
// and 320 CSS px (a phone, or 1280 px at 400 % zoom): axe-core finds no violation of WCAG 2.0,
// 2.1 and 2.2 A and AA, and the page never scrolls sideways (WCAG 1.4.10).
//
// In dark only the rules that read colours run. The dark scheme changes colours and nothing
// else (app.css sets only custom properties in it; static's TestDarkSchemeChangesOnlyColours
// keeps it so), so every other rule finds in dark what it found in light, at a cost of 100 ms
// a page.

// asmToken is Contoso Schools ASM, whose file the wrong-token case gives to Contoso ABM.
const asmToken = "9a1c3e5f-6b2d-4f8a-8c7e-1d3f5b7a9c83"

var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"}

// axeColourRules are the rules of axeTags whose outcome depends on colours: text contrast
// (1.4.3) and links told apart from text by colour alone (1.4.1).
var axeColourRules = []string{"color-contrast", "link-in-text-block"}

// widths are the screen widths every page is checked at.
var widths = []int{1280, 320}

type look struct {
	width int
	dark  bool
}

func (l look) String() string {
	scheme := "light"
	if l.dark {
		scheme = "dark"
	}
	return fmt.Sprintf("%dpx %s", l.width, scheme)
}

// sweep checks pages as a journey reaches them and keeps what it found, per look.
type sweep struct {
	axe string

	mu         sync.Mutex
	pages      []string
	violations map[look][]string
	overflow   map[int][]string // width → pages that scroll sideways, with why
}

func newSweep(tb testing.TB) *sweep {
	return &sweep{axe: testkit.MustAxe(tb), violations: map[look][]string{}, overflow: map[int][]string{}}
}

// MustBrowser is a fresh browser context in the shared Chromium, with axe-core loaded into
// every page it opens (the sweep's s.axe).
func (s *sweep) MustBrowser(tb testing.TB) context.Context {
	tb.Helper()
	ctx := MustBrowser(tb)
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: s.axe}); err != nil {
		tb.Fatalf("load axe-core into the browser: %v", err)
	}
	return ctx
}

// show sets the browser's width and colour scheme.
func show(tb testing.TB, ctx context.Context, l look) {
	tb.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: int64(l.width), Height: 900, DeviceScaleFactor: 1}); err != nil {
		tb.Fatal(err)
	}
	scheme := "light"
	if l.dark {
		scheme = "dark"
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
		tb.Fatal(err)
	}
	// Two frames: the new layout and styles are in place before anything is measured.
	MustGet(tb, ctx, chromedp.Evaluate[bool](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))`, chromedp.EvalAwaitPromise))
}

const overflowJS = `(() => {
	const de = document.documentElement, w = de.clientWidth;
	if (de.scrollWidth <= w) return "";
	const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
		(typeof e.className === "string" && e.className.trim() ? "." + e.className.trim().split(/\s+/).join(".") : "");
	const wide = [...document.querySelectorAll("body *")]
		.filter(e => e.getBoundingClientRect().right > w + 0.5 && e.getClientRects().length)
		.slice(0, 6).map(e => name(e) + " to " + Math.round(e.getBoundingClientRect().right) + "px");
	return de.scrollWidth + "px wide in " + w + "px: " + wide.join(", ");
})()`

// axeRunJS runs axe-core over the page: every rule of axeTags in light, the colour rules in
// dark.
func axeRunJS(l look) string {
	only := `{type: "tag", values: ` + jsList(axeTags) + `}`
	if l.dark {
		only = `{type: "rule", values: ` + jsList(axeColourRules) + `}`
	}
	return `(async () => {
	const r = await axe.run(document, {runOnly: ` + only + `, resultTypes: ["violations"]});
	return r.violations.map(v => v.id + " (" + v.impact + "): " + v.help + "\n      " +
		v.nodes.slice(0, 4).map(n => n.target.join(" ") + ": " + (n.failureSummary || "").replace(/\s+/g, " ")).join("\n      "));
})()`
}

func jsList(ss []string) string {
	return `["` + strings.Join(ss, `", "`) + `"]`
}

// check runs every look on the page the browser shows, then puts the browser back at 1280 px
// in light for the journey to go on.
func (s *sweep) check(tb testing.TB, ctx context.Context, name string) {
	tb.Helper()
	if !MustGet(tb, ctx, chromedp.Evaluate[bool](`typeof axe !== "undefined"`)) {
		tb.Fatalf("%s: axe-core is not loaded in the page", name)
	}
	at := MustGet(tb, ctx, chromedp.Location())
	var found = map[look][]string{}
	var wide = map[int]string{}
	for _, w := range widths {
		for _, dark := range []bool{false, true} {
			l := look{w, dark}
			show(tb, ctx, l)
			found[l] = MustGet(tb, ctx, chromedp.Evaluate[[]string](axeRunJS(l), chromedp.EvalAwaitPromise))
			if !dark {
				wide[w] = MustGet(tb, ctx, chromedp.Evaluate[string](overflowJS))
			}
		}
	}
	show(tb, ctx, look{1280, false})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages = append(s.pages, name)
	for l, vs := range found {
		for _, v := range vs {
			s.violations[l] = append(s.violations[l], fmt.Sprintf("%s (%s): %s", name, at, v))
		}
	}
	for w, why := range wide {
		if why != "" {
			s.overflow[w] = append(s.overflow[w], fmt.Sprintf("%s (%s): %s", name, at, why))
		}
	}
}

// report gives one subtest per look (axe) and one per width (sideways scrolling), each
// failing with every page that broke it.
func (s *sweep) report(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Logf("%d pages checked at %d looks each: %s", len(s.pages), 2*len(widths), strings.Join(s.pages, "; "))
	for _, w := range widths {
		for _, dark := range []bool{false, true} {
			l := look{w, dark}
			t.Run("axe "+l.String(), func(t *testing.T) {
				ran := strings.Join(axeTags, ", ")
				if l.dark {
					ran = strings.Join(axeColourRules, ", ")
				}
				if vs := s.violations[l]; len(vs) > 0 {
					t.Errorf("%d axe violations (%s):\n%s", len(vs), ran, strings.Join(vs, "\n"))
				}
			})
		}
		t.Run(fmt.Sprintf("no sideways scroll at %dpx", w), func(t *testing.T) {
			if o := s.overflow[w]; len(o) > 0 {
				t.Errorf("pages wider than the screen:\n%s", strings.Join(o, "\n"))
			}
		})
	}
}

// shot saves a screenshot of the page at a width and scheme, for the README.
func shot(tb testing.TB, ctx context.Context, name string, l look) {
	tb.Helper()
	show(tb, ctx, l)
	MustDo(tb, ctx, screenshot(name))
	show(tb, ctx, look{1280, false})
}

// submitWithoutRequired sends a form the browser would hold back (a required box unticked),
// as a browser without that check would, to reach the page that answers it.
func submitWithoutRequired(tb testing.TB, ctx context.Context, button string) {
	tb.Helper()
	MustGet(tb, ctx, chromedp.Evaluate[bool](`document.querySelectorAll("[required]").forEach(e => e.removeAttribute("required")); true`))
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(button))); err != nil {
		tb.Fatal(err)
	}
}

// click clicks and waits for the page the click loads.
func click[S chromedp.Selectable](tb testing.TB, ctx context.Context, sel S) {
	tb.Helper()
	c, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(c, chromedp.Click(sel)); err != nil {
		tb.Fatalf("click %v: %v", sel, err)
	}
}

// The uploader's journey, in four parts that run side by side, each on a portal of its own.

// TestEveryPageAsHannahArriving: the sandbox, sign-in, tokens, a token and a form with errors.
func TestEveryPageAsHannahArriving(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	s := newSweep(t)
	p := MustStartPortal(t)
	ctx := s.MustBrowser(t)

	MustDo(t, ctx, chromedp.Navigate(p.URL+"/_sandbox/"), chromedp.WaitVisible(chromedp.CSS("body")))
	s.check(t, ctx, "sandbox home")
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("persona-hannah")))
	s.check(t, ctx, "sign-in: personas")
	MustDo(t, ctx, chromedp.Click(chromedp.ID("persona-hannah")), chromedp.WaitVisible(chromedp.CSS(`[data-testid="tokens"]`)))
	s.check(t, ctx, "home with tokens")
	shot(t, ctx, "40-phone-token-list", look{390, false})
	shot(t, ctx, "41-dark-token-list", look{1280, true})

	MustDo(t, ctx, chromedp.Navigate(p.URL+"/settings/"+abmSoon), chromedp.WaitVisible(chromedp.ID("token_file")))
	s.check(t, ctx, "token page")

	valid := MustDownloadSample(t, p, abmSoon+"/valid")
	MustDo(t, ctx, chromedp.SetValue(chromedp.ID("apple_id"), "abm admin"), chromedp.SetUploadFiles(chromedp.ID("token_file"), []string{valid}))
	click(t, ctx, chromedp.ID("check-file"))
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="error-summary"]`)))
	if focused := MustGet(t, ctx, chromedp.Evaluate[string](`document.activeElement.dataset.testid || ""`)); focused != "error-summary" {
		t.Errorf("the error summary does not have the focus (%q has)", focused)
	}
	s.check(t, ctx, "form with errors")
	s.report(t)
}

// TestEveryPageAsHannahRenewing: a review with a warning and a decision missing, Intune busy
// and Try again, a renewal and a sync.
func TestEveryPageAsHannahRenewing(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	s := newSweep(t)
	p := MustStartPortal(t, "DEPPORTAL_SANDBOX_FAULTS=upload=429:120")
	ctx := s.MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")

	uploadForReview(t, ctx, p, abmSoon, "new-admin@contoso.com", MustDownloadSample(t, p, abmSoon+"/valid"))
	s.check(t, ctx, "review with a warning to decide on")
	submitWithoutRequired(t, ctx, "confirm-upload")
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.ID("decide-error")))
	s.check(t, ctx, "review: a decision missing")
	MustDo(t, ctx, chromedp.Click(chromedp.ID("ack-apple_id_change")))
	click(t, ctx, chromedp.ID("confirm-upload"))
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.ID("try-again")))
	s.check(t, ctx, "result: Intune busy, Try again")
	shot(t, ctx, "42-phone-dark-try-again", look{390, true})
	click(t, ctx, chromedp.ID("try-again"))
	MustDo(t, ctx, chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))
	s.check(t, ctx, "result: renewed")
	click(t, ctx, chromedp.ID("sync-now"))
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="sync-notice"]`)))
	s.check(t, ctx, "token page after a sync")
	s.report(t)
}

// TestEveryPageAsHannahStopped: the files the review stops (no token's key, another token's,
// expired), the renewal of the other token, and Intune's own refusal.
func TestEveryPageAsHannahStopped(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	s := newSweep(t)
	p := MustStartPortal(t)
	ctx := s.MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")

	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, abmSoon+"/wrong-key"))
	s.check(t, ctx, "review: made for no token here")
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, asmToken+"/valid"))
	s.check(t, ctx, "review: another token's file")
	shot(t, ctx, "43-phone-another-tokens-file", look{390, false})
	click(t, ctx, chromedp.ID("renew-other"))
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.ID("confirm-upload")))
	s.check(t, ctx, "review for the other token")

	expired := MustDownloadSample(t, p, abmSoon+"/expired")
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", expired)
	s.check(t, ctx, "review: expired file")
	renamed := filepath.Join(filepath.Dir(expired), "token.p7m")
	if err := os.Rename(expired, renamed); err != nil {
		t.Fatal(err)
	}
	uploadForReview(t, ctx, p, abmSoon, "abm-admin@contoso.com", renamed)
	MustGet(t, ctx, chromedp.Evaluate[bool](`document.querySelectorAll("input[name=ack]").forEach(b => { b.checked = true }); true`))
	click(t, ctx, chromedp.ID("confirm-upload"))
	MustDo(t, ctx, chromedp.WaitVisible(`//h1[contains(., "Intune rejected the token")]`))
	s.check(t, ctx, "result: Intune rejected the file")
	s.report(t)
}

// TestEveryPageAsHannahLooking: her own audit trail and a record, a missing page, sign-out.
func TestEveryPageAsHannahLooking(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	s := newSweep(t)
	p := MustStartPortal(t)
	ctx := s.MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")

	MustDo(t, ctx, chromedp.Navigate(p.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-records"]`)))
	s.check(t, ctx, "audit trail, own records")
	click(t, ctx, chromedp.CSS(`[data-testid="audit-records"] tbody tr a`))
	MustDo(t, ctx, chromedp.WaitVisible(`//h1[contains(., "Audit record")]`))
	s.check(t, ctx, "audit record")
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/no-such-page"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	s.check(t, ctx, "page not found")
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("sign-out")))
	click(t, ctx, chromedp.ID("sign-out"))
	MustDo(t, ctx, chromedp.WaitVisible(`//h1[contains(., "You are signed out")]`))
	s.check(t, ctx, "signed out")
	s.report(t)
}

// TestEveryPageAsAvery: the auditor's home, the whole trail, a record and a checkpoint.
func TestEveryPageAsAvery(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	s := newSweep(t)
	p := MustStartPortal(t)
	ctx := s.MustBrowser(t)
	signInAs(t, ctx, p, "avery", "")
	s.check(t, ctx, "auditor's home")
	MustDo(t, ctx, chromedp.Navigate(p.URL+"/audit"), chromedp.WaitVisible(chromedp.ID("checkpoint")))
	click(t, ctx, chromedp.ID("checkpoint"))
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-records"]`)))
	s.check(t, ctx, "audit trail after a checkpoint")
	click(t, ctx, chromedp.CSS(`[data-testid="audit-records"] tbody tr a`))
	MustDo(t, ctx, chromedp.WaitVisible(`//h1[contains(., "Audit record")]`))
	s.check(t, ctx, "audit record")
	shot(t, ctx, "44-phone-audit-record", look{320, false})
	s.report(t)
}

// TestEveryPageAsNoraAndEve: the pages of people the portal turns away.
func TestEveryPageAsNoraAndEve(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	s := newSweep(t)
	p := MustStartPortal(t)
	nora := s.MustBrowser(t)
	signInAs(t, nora, p, "nora", "")
	s.check(t, nora, "no portal role")
	eve := s.MustBrowser(t)
	signInAs(t, eve, p, "eve", "")
	s.check(t, eve, "wrong organisation")
	s.report(t)
}
