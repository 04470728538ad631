package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

var (
	renewOtherAction = regexp.MustCompile(`action="(/uploads/[^"/]+/renew-other)"`)
	retryAction      = regexp.MustCompile(`<form method="post" action="(/uploads/[^"/]+/confirm)" class="retry"`)
	hiddenAck        = regexp.MustCompile(`<input type="hidden" name="ack" value="([^"]+)"`)
	otherAppleID     = regexp.MustCompile(`id="other_apple_id" name="apple_id" value="([^"]*)"`)
)

// The Contoso Schools ASM file given to the Contoso ABM token: the page says whose file it is
// before anything else, offers no re-keying, and renews the ASM token from the same file.
func TestFileForAnotherTokenRenewsThatToken(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	asmFile := MustSample(t, p, asm, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", asmFile.FileName, asmFile.Data)
	if review.Status != http.StatusUnprocessableEntity {
		t.Fatalf("review %d", review.Status)
	}
	said := strings.Index(review.Body, "This file is the server token for Contoso Schools ASM")
	if said < 0 || said > strings.Index(review.Body, `data-testid="checks"`) {
		t.Errorf("the page does not say first whose file it is:\n%s", review.Body)
	}
	if confirmAction.MatchString(review.Body) || strings.Contains(review.Body, "/public-key") || strings.Contains(review.Body, "regenerated") {
		t.Errorf("another token's file must offer neither a renewal of this token nor re-keying:\n%s", review.Body)
	}
	action := renewOtherAction.FindStringSubmatch(review.Body)
	appleID := otherAppleID.FindStringSubmatch(review.Body)
	if action == nil || appleID == nil || appleID[1] != "asm-admin@contoso.edu" {
		t.Fatalf("no form to renew Contoso Schools ASM with Intune's Apple ID for it:\n%s", review.Body)
	}

	// The button: no second upload, a review for the ASM token.
	form := url.Values{"csrf_token": {csrf}, "setting_id": {asm}, "apple_id": {appleID[1]}}
	other := b.SeeOther(b.Do(http.MethodPost, action[1], form, map[string]string{"Origin": b.Base}))
	if other.RedirectedFrom != http.StatusSeeOther || !strings.Contains(other.Body, "Check before renewing Contoso Schools ASM") ||
		strings.Contains(other.Body, `data-verdict="fail"`) || !confirmAction.MatchString(other.Body) {
		t.Fatalf("the review for Contoso Schools ASM: %d\n%s", other.Status, other.Body)
	}
	done := confirmReview(t, b, other, ackAll(other)...)
	if !strings.Contains(done.Body, "Token renewed") {
		t.Fatalf("renewing Contoso Schools ASM: %d\n%s", done.Status, done.Body)
	}
	got := p.tenant.Graph.Received()
	if len(got) != 1 || got[0].SettingID != asm || !got[0].Applied {
		t.Errorf("Intune received %+v, want one upload to Contoso Schools ASM", got)
	}
	// A token the file was not made for cannot be renewed through the form.
	forged := url.Values{"csrf_token": {csrf}, "setting_id": {abmExpired}, "apple_id": {"retail-it@contoso.com"}}
	if got := b.Do(http.MethodPost, action[1], forged, map[string]string{"Origin": b.Base}); got.Status != http.StatusGone {
		t.Errorf("renewing another token than the file's: %d", got.Status)
	}
	// An Apple ID that is not one comes back beside its field.
	bad := url.Values{"csrf_token": {csrf}, "setting_id": {asm}, "apple_id": {"asm admin"}}
	if got := b.Do(http.MethodPost, action[1], bad, map[string]string{"Origin": b.Base}); got.Status != http.StatusUnprocessableEntity ||
		!strings.Contains(got.Body, `id="other_apple_id-error"`) || !strings.Contains(got.Body, `aria-invalid="true"`) {
		t.Errorf("a bad Apple ID for the other token: %d\n%s", got.Status, got.Body)
	}
}

// The expired sample stops at the review, saying when it expired; Intune is never asked.
func TestExpiredFileStopsAtTheReview(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	expired := MustSample(t, p, abmSoon, sandbox.SampleExpired)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", expired.FileName, expired.Data)
	if review.Status != http.StatusUnprocessableEntity || !strings.Contains(review.Body, "This file expired on") || confirmAction.MatchString(review.Body) {
		t.Fatalf("expired file: %d\n%s", review.Status, review.Body)
	}
	if n := len(p.tenant.Graph.Received()); n != 0 {
		t.Errorf("Intune received %d uploads", n)
	}
}

// A warning's headline says what was found, the count of decisions is at the top, and each
// tick box says what renewing anyway leads to, tied to the warning it answers.
func TestWarningsAskForDecisionsInWords(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "new+admin@contoso.com", valid.FileName, valid.Data)
	top := strings.Index(review.Body, "1 warning needs your decision")
	if top < 0 || top > strings.Index(review.Body, `data-testid="checks"`) {
		t.Errorf("the count of decisions is not at the top:\n%s", review.Body)
	}
	for _, want := range []string{
		"Another Apple ID than Intune&#39;s (abm-admin@contoso.com)",
		`aria-describedby="check-apple_id"`,
		`<label for="ack-apple_id_change">Renew with new+admin@contoso.com: Intune shows this Apple ID for the token from now on`,
		"<legend>",
	} {
		if !strings.Contains(review.Body, want) {
			t.Errorf("review lacks %q", want)
		}
	}
	if strings.Contains(review.Body, "I have read") {
		t.Error("a tick box that says nothing of its consequence")
	}
}

// "Choose another file" keeps an Apple ID with a + (query-escaped, not turned into a space).
func TestChooseAnotherFileKeepsThePlus(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	wrong := MustSample(t, p, abmSoon, sandbox.SampleWrongKey)
	review := postUpload(t, b, abmSoon, csrf, "abm+admin@contoso.com", wrong.FileName, wrong.Data)
	m := regexp.MustCompile(`id="choose-another" href="([^"]+)"`).FindStringSubmatch(review.Body)
	if m == nil {
		t.Fatalf("no way to choose another file:\n%s", review.Body)
	}
	form := b.Get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if !strings.Contains(form.Body, `value="abm+admin@contoso.com"`) {
		t.Errorf("the form lost the +: %s\n%s", m[1], form.Body)
	}
}

// After 429 the result page offers "Try again", which sends the same reviewed file with the
// decisions already made; nothing is chosen again.
func TestTryAgainAfterThrottlingResendsTheFile(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "new-admin@contoso.com", valid.FileName, valid.Data)
	MustInjectFaults(t, p, "upload=429:120")
	failed := confirmReview(t, b, review, ackAll(review)...)
	action := retryAction.FindStringSubmatch(failed.Body)
	if !strings.Contains(failed.Body, "Intune is busy") || action == nil {
		t.Fatalf("no Try again after 429:\n%s", failed.Body)
	}
	if strings.Contains(failed.Body, "Upload the same file again") {
		t.Error("the page asks for the form again beside Try again")
	}
	form := url.Values{"csrf_token": {csrfFrom(t, failed.Body)}}
	for _, m := range hiddenAck.FindAllStringSubmatch(failed.Body, -1) {
		form.Add("ack", m[1])
	}
	done := b.SeeOther(b.Do(http.MethodPost, action[1], form, map[string]string{"Origin": b.Base}))
	if !strings.Contains(done.Body, "Token renewed") {
		t.Fatalf("Try again: %d\n%s", done.Status, done.Body)
	}
	got := p.tenant.Graph.Received()
	if len(got) != 2 || got[0].FileSHA256 != got[1].FileSHA256 || got[1].AppleID != "new-admin@contoso.com" || !got[1].Applied {
		t.Errorf("Intune received %+v, want the same file twice, the second applied", got)
	}
}

// After a sign-in that expired, "Try again" first asks for a sign-in that comes back to the
// result, then sends the same file from the new session.
func TestTryAgainAfterTheSignInExpired(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	MustInjectFaults(t, p, "upload=401*2")
	failed := confirmReview(t, b, review, ackAll(review)...)
	if !strings.Contains(failed.Body, `href="/auth/login?return_to=`+url.QueryEscape(failed.Path)+`" id="sign-in-again"`) || !retryAction.MatchString(failed.Body) ||
		strings.Contains(failed.Body, "choose the file again") {
		t.Fatalf("no sign-in then Try again after 401:\n%s", failed.Body)
	}
	back, at := testkit.MustSignIn(t, b, "hannah", failed.Path)
	action := retryAction.FindStringSubmatch(back.Body)
	if !strings.HasSuffix(at, failed.Path) || action == nil || strings.Contains(back.Body, `id="sign-in-again"`) {
		t.Fatalf("back at %s after signing in again:\n%s", at, back.Body)
	}
	done := b.SeeOther(b.Do(http.MethodPost, action[1], url.Values{"csrf_token": {csrfFrom(t, back.Body)}}, map[string]string{"Origin": b.Base}))
	if !strings.Contains(done.Body, "Token renewed") {
		t.Fatalf("Try again from the new session: %d\n%s", done.Status, done.Body)
	}
}
