package handlers_test

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

var pageTitle = regexp.MustCompile(`<title>([^<]*)</title>`)

func titleOf(body string) string {
	if m := pageTitle.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// A form that comes back with errors: "Error:" in the title, a summary first that links to
// each field and takes the focus, the fields marked invalid, and the file to choose again.
func TestFormErrorsAreSummarisedAndLinked(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	got := postUpload(t, b, abmSoon, csrf, "abm admin", valid.FileName, valid.Data)
	if got.Status != http.StatusUnprocessableEntity || !strings.HasPrefix(titleOf(got.Body), "Error: Contoso ABM") {
		t.Fatalf("%d, title %q", got.Status, titleOf(got.Body))
	}
	summary := strings.Index(got.Body, `data-testid="error-summary"`)
	if summary < 0 || summary > strings.Index(got.Body, "<h1>") {
		t.Errorf("no error summary before the page's heading:\n%s", got.Body)
	}
	for _, want := range []string{
		`tabindex="-1" data-focus`,
		`<a href="#apple_id">This does not look like an Apple ID`,
		`aria-invalid="true" aria-describedby="apple_id-error"`,
		"Choose " + htmlEscape(valid.FileName) + " again",
		`aria-describedby="token_file-hint"`,
	} {
		if !strings.Contains(got.Body, want) {
			t.Errorf("form lacks %q", want)
		}
	}
	// Sizes are the real ones.
	big := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", "big.p7m", bytes.Repeat([]byte("A"), 70<<10))
	if !strings.Contains(big.Body, "The file is 70.0 KB") || strings.Contains(big.Body, "Choose big.p7m again") {
		t.Errorf("70 KB file:\n%s", big.Body)
	}
}

// A body over the portal's limit is the renewal form again, inside the token's page, with the
// size by the file field: not a bare error page.
func TestTooLargeUploadIsTheFormAgain(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	got := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", "huge.p7m", bytes.Repeat([]byte("A"), 300<<10))
	if got.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("300 KB upload: %d", got.Status)
	}
	for _, want := range []string{"<h1>Contoso ABM</h1>", `id="token_file-error"`, `<a href="#token_file">What you sent is about 300.`, `value="abm-admin@contoso.com"`, `id="check-file"`} {
		if !strings.Contains(got.Body, want) {
			t.Errorf("413 page lacks %q:\n%s", want, got.Body)
		}
	}
	if !strings.HasPrefix(titleOf(got.Body), "Error: ") {
		t.Errorf("title %q", titleOf(got.Body))
	}
	// Without the uploader role it stays the plain refusal.
	nora := p.browser(t)
	home, _ := testkit.MustSignIn(t, nora, "nora", "/")
	refused := postUpload(t, nora, abmSoon, csrfOrEmpty(home.Body), "abm-admin@contoso.com", "huge.p7m", bytes.Repeat([]byte("A"), 300<<10))
	if refused.Status != http.StatusRequestEntityTooLarge || strings.Contains(refused.Body, `id="token_file"`) {
		t.Errorf("a person without the role got the form: %d", refused.Status)
	}
}

var abmPath = regexp.MustCompile(`Management Services → [^→<]+ → Download Token`)

// Every page of the journey names Apple's menu path one way, Apple's current one
// (renewal.MenuManagementServices, renewal.MenuDownloadToken): no old menu names, and every
// "Download Token" in the whole path.
func TestOneAppleMenuPathEverywhere(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	pages := map[string]string{"token page": b.Get("/settings/" + abmSoon).Body}
	for _, kind := range []sandbox.SampleKind{sandbox.SampleWrongKey, sandbox.SampleExpired} {
		f := MustSample(t, p, abmSoon, kind)
		pages[string(kind)] = postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", f.FileName, f.Data).Body
	}
	for _, s := range p.tenant.Graph.Samples() {
		if s.Kind == sandbox.SampleVPPToken {
			pages["vpptoken"] = postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", s.FileName, s.Data).Body
		}
	}
	expired := MustSample(t, p, abmSoon, sandbox.SampleExpired)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", "token.p7m", expired.Data)
	pages["rejection"] = confirmReview(t, b, review, ackAll(review)...).Body
	for name, body := range pages {
		if strings.Contains(body, "Preferences") || strings.Contains(body, "MDM Servers") || strings.Contains(body, "Edit MDM") {
			t.Errorf("%s names an old menu", name)
		}
		whole := len(abmPath.FindAllString(body, -1))
		if n := strings.Count(body, "Download Token"); n == 0 || n != whole {
			t.Errorf("%s: %d mentions of Download Token, %d of them in the whole path", name, n, whole)
		}
	}
}

// Moments are <time datetime> elements in UTC words; the script shows them in local time.
func TestMomentsAreTimeElements(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, _ := signedInHannah(t, p)
	page := b.Get("/settings/" + abmSoon)
	if !regexp.MustCompile(`<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" data-style="datetime" title="\d+ \w{3} \d{4} \d\d:\d\d UTC">`).MatchString(page.Body) {
		t.Errorf("token page shows no moment as a time element:\n%s", page.Body)
	}
	if list := b.Get("/audit"); !strings.Contains(list.Body, `<td data-label="Time"><time datetime=`) {
		t.Errorf("audit list times are not time elements:\n%s", list.Body)
	}
}

// Sync with Apple: the token page asks for it and says what came of it; a second one within
// Intune's 15 minutes is not sent; the list shows the device count; a renewal offers it.
func TestSyncWithApple(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	page := b.Get("/settings/" + abmSoon)
	if !strings.Contains(page.Body, `action="/settings/`+abmSoon+`/sync"`) || !strings.Contains(page.Body, "one manual sync every 15 minutes") {
		t.Fatalf("token page offers no sync:\n%s", page.Body)
	}
	sync := func() testkit.Page {
		return b.SeeOther(b.Do(http.MethodPost, "/settings/"+abmSoon+"/sync", url.Values{"csrf_token": {csrf}}, map[string]string{"Origin": b.Base}))
	}
	asked := sync()
	if !strings.Contains(asked.Body, "Intune was asked to sync Contoso ABM with Apple") || strings.Contains(asked.Body, `id="sync-now"`) ||
		!strings.Contains(asked.Body, "The next manual sync is possible") {
		t.Errorf("after a sync:\n%s", asked.Body)
	}
	again := sync()
	if !strings.Contains(again.Body, "Nothing was asked this time") {
		t.Errorf("a second sync within 15 minutes:\n%s", again.Body)
	}
	if home := b.Get("/"); !strings.Contains(home.Body, "1,842") && !strings.Contains(home.Body, "1842") {
		t.Errorf("token list lacks the device count:\n%s", home.Body)
	}
	valid := MustSample(t, p, asm, sandbox.SampleValid)
	review := postUpload(t, b, asm, csrf, "asm-admin@contoso.edu", valid.FileName, valid.Data)
	if done := confirmReview(t, b, review, ackAll(review)...); !strings.Contains(done.Body, `action="/settings/`+asm+`/sync"`) {
		t.Errorf("the renewal's result offers no sync:\n%s", done.Body)
	}
}
