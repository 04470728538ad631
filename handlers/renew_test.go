package handlers_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

const (
	abmSoon    = "0b6f9a4e-2c1d-4e8f-9a3b-5d7c1e2f4a61" // Contoso ABM, expires in 9 days
	abmExpired = "4e2d8c1a-7b3f-4a9e-8d6c-2f1e5a9b3c72" // Contoso Retail ABM, expired 3 days ago
	asm        = "9a1c3e5f-6b2d-4f8a-8c7e-1d3f5b7a9c83" // Contoso Schools ASM
)

// MustSample returns a sample file the sandbox serves.
func MustSample(tb testing.TB, p *testPortal, settingID string, kind sandbox.SampleKind) sandbox.Sample {
	tb.Helper()
	for _, s := range p.tenant.Graph.Samples() {
		if s.SettingID == settingID && s.Kind == kind {
			return s
		}
	}
	tb.Fatalf("no sample %s for %q", kind, settingID)
	return sandbox.Sample{}
}

// postUpload sends the renewal form as a browser would (multipart) and follows its 303.
func postUpload(tb testing.TB, b *testkit.Browser, settingID, csrf, appleID, fileName string, file []byte) testkit.Page {
	tb.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("csrf_token", csrf)
	w.WriteField("apple_id", appleID)
	if file != nil {
		fw, _ := w.CreateFormFile("token_file", fileName)
		fw.Write(file)
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, b.Base+"/settings/"+settingID+"/upload", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Origin", b.Base)
	p, err := b.Send(req)
	if err != nil {
		tb.Fatal(err)
	}
	return b.SeeOther(p)
}

var confirmAction = regexp.MustCompile(`action="/uploads/([^"/]+)/confirm"`)

// confirmReview sends the review's confirmation form with the given boxes ticked and follows its 303.
func confirmReview(tb testing.TB, b *testkit.Browser, review testkit.Page, acks ...string) testkit.Page {
	tb.Helper()
	m := confirmAction.FindStringSubmatch(review.Body)
	if m == nil {
		tb.Fatalf("review page has no confirm form:\n%s", review.Body)
	}
	form := map[string][]string{"csrf_token": {csrfFrom(tb, review.Body)}, "ack": acks}
	return b.SeeOther(b.Do(http.MethodPost, "/uploads/"+m[1]+"/confirm", form, map[string]string{"Origin": b.Base}))
}

func signedInHannah(t *testing.T, p *testPortal) (*testkit.Browser, string) {
	t.Helper()
	b := p.browser(t)
	home, _ := testkit.MustSignIn(t, b, "hannah", "/")
	return b, csrfFrom(t, home.Body)
}

func TestRenewTokenEndToEnd(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)

	home := b.Get("/")
	for _, want := range []string{"Contoso ABM", "Contoso Retail ABM", "Contoso Schools ASM", "Apple School Manager", "9 days left", "Expired 3 days ago", `id="renew-` + abmSoon + `"`} {
		if !strings.Contains(home.Body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}

	form := b.Get("/settings/" + abmSoon)
	if form.Status != http.StatusOK || !strings.Contains(form.Body, `value="abm-admin@contoso.com"`) || !strings.Contains(form.Body, `name="token_file"`) {
		t.Fatalf("renewal form: %d\n%s", form.Status, form.Body)
	}

	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	if review.Status != http.StatusOK || strings.Count(review.Body, `data-verdict="pass"`) < 3 || strings.Contains(review.Body, `data-verdict="fail"`) {
		t.Fatalf("review: %d\n%s", review.Status, review.Body)
	}
	if n := len(p.tenant.Graph.Received()); n != 0 {
		t.Fatalf("Intune received %d uploads before confirmation", n)
	}

	result := confirmReview(t, b, review)
	if result.Status != http.StatusOK || !strings.Contains(result.Body, "Token renewed") {
		t.Fatalf("result: %d\n%s", result.Status, result.Body)
	}
	for _, want := range []string{"Request ID", "Client request ID", "204 No Content"} {
		if !strings.Contains(result.Body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	inAYear := time.Now().AddDate(1, 0, 0).UTC().Format("2 Jan 2006")
	if !strings.Contains(result.Body, inAYear) {
		t.Errorf("result page does not show the new expiry %s", inAYear)
	}
	got := p.tenant.Graph.Received()
	if len(got) != 1 || got[0].SettingID != abmSoon || !got[0].Applied {
		t.Fatalf("Intune received %+v", got)
	}
	if home := b.Get("/"); !strings.Contains(home.Body, inAYear) {
		t.Error("home page does not show the renewed expiry")
	}
}

func TestRenewFormValidation(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	tests := []struct {
		name, appleID string
		file          []byte
		want          string
	}{
		{"no Apple ID", "  ", valid.Data, "Enter the Apple ID used to create the original token"},
		{"not an email", "abm admin", valid.Data, "This does not look like an Apple ID"},
		{"display name form", "Admin <abm-admin@contoso.com>", valid.Data, "This does not look like an Apple ID"},
		{"too long", strings.Repeat("a", 250) + "@contoso.com", valid.Data, "An Apple ID is at most 254 characters"},
		{"no file", "abm-admin@contoso.com", nil, "Choose the server token file (.p7m)"},
		{"empty file", "abm-admin@contoso.com", []byte{}, "The chosen file is empty"},
		{"file over 64 KB", "abm-admin@contoso.com", bytes.Repeat([]byte("A"), 70<<10), "a server token is about 3 KB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := postUpload(t, b, abmSoon, csrf, tt.appleID, "token.p7m", tt.file)
			if got.Status != http.StatusUnprocessableEntity || !strings.Contains(got.Body, tt.want) {
				t.Fatalf("%d, page lacks %q:\n%s", got.Status, tt.want, got.Body)
			}
			if !strings.Contains(got.Body, `class="field-error"`) {
				t.Error("message not shown beside its field")
			}
			// What the person typed is kept (the file input cannot be).
			if kept := strings.TrimSpace(tt.appleID); kept != "" && len(kept) < 200 && !strings.Contains(got.Body, `value="`+htmlEscape(kept)+`"`) {
				t.Errorf("Apple ID %q not kept in the form", kept)
			}
		})
	}
	// Back and resubmit: the browser posts the file field with no name and no content. That
	// is a file to choose again, not an empty download to fetch anew from Apple.
	resent := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", "", []byte{})
	if resent.Status != http.StatusUnprocessableEntity || !strings.Contains(resent.Body, "Choose the server token file (.p7m)") || strings.Contains(resent.Body, "download the token again") {
		t.Errorf("a resubmitted form without its file: %d\n%s", resent.Status, resent.Body)
	}
	if n := len(p.tenant.Graph.Received()); n != 0 {
		t.Errorf("Intune received %d uploads", n)
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("<", "&lt;", ">", "&gt;", `"`, "&#34;", "&", "&amp;").Replace(s)
}

func TestRequestOverLimitIsRefused(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	got := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", "huge.p7m", bytes.Repeat([]byte("A"), 300<<10))
	if got.Status != http.StatusRequestEntityTooLarge || !strings.Contains(got.Body, "about 3 KB") {
		t.Errorf("300 KB upload: %d", got.Status)
	}
}

func TestWrongKeyTokenStoppedBeforeIntune(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	wrong := MustSample(t, p, abmSoon, sandbox.SampleWrongKey)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", wrong.FileName, wrong.Data)
	if review.Status != http.StatusUnprocessableEntity || !strings.Contains(review.Body, "Made for an MDM server this tenant does not hold") {
		t.Fatalf("review: %d\n%s", review.Status, review.Body)
	}
	if !strings.Contains(review.Body, "/settings/"+abmSoon+"/public-key") || confirmAction.MatchString(review.Body) {
		t.Error("mismatch page must link the public key and offer no confirmation")
	}
	if n := len(p.tenant.Graph.Received()); n != 0 {
		t.Errorf("Intune received %d uploads", n)
	}
}

func TestWrongFilesNamed(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	for kind, want := range map[sandbox.SampleKind]string{
		sandbox.SampleVPPToken: "Apps and Books",
		sandbox.SampleAPNsCert: "certificate",
	} {
		s := MustSample(t, p, "", kind)
		got := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", s.FileName, s.Data)
		if got.Status != http.StatusUnprocessableEntity || !strings.Contains(got.Body, want) || confirmAction.MatchString(got.Body) {
			t.Errorf("%s: %d, want a failed check naming %q", kind, got.Status, want)
		}
	}
}

func TestChangedAppleIDNeedsConfirmation(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "new-admin@contoso.com", valid.FileName, valid.Data)
	if !strings.Contains(review.Body, `data-verdict="warn"`) || !strings.Contains(review.Body, `name="ack" value="apple_id_change"`) {
		t.Fatalf("no Apple ID warning with a tick box:\n%s", review.Body)
	}
	again := confirmReview(t, b, review)
	if again.Status != http.StatusUnprocessableEntity || !strings.Contains(again.Body, "Tick each box") {
		t.Fatalf("confirm without the tick: %d", again.Status)
	}
	if n := len(p.tenant.Graph.Received()); n != 0 {
		t.Fatalf("sent without the tick (%d)", n)
	}
	done := confirmReview(t, b, again, "apple_id_change")
	if done.Status != http.StatusOK || !strings.Contains(done.Body, "new-admin@contoso.com") {
		t.Fatalf("confirm with the tick: %d\n%s", done.Status, done.Body)
	}
}

func TestDoubleSubmitRefused(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	first := confirmReview(t, b, review)
	if first.Status != http.StatusOK || !strings.Contains(first.Body, "Token renewed") {
		t.Fatalf("first confirm: %d", first.Status)
	}
	// The same form sent again (a second click, Back and resubmit) shows the first result.
	second := confirmReview(t, b, review)
	if second.RedirectedFrom != http.StatusSeeOther || second.Path != first.Path || !strings.Contains(second.Body, "Token renewed") {
		t.Errorf("second confirm of the same review: %d → %s", second.Status, second.Path)
	}
	// The same file again within 10 minutes: a warning that needs a tick.
	again := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	if !strings.Contains(again.Body, `name="ack" value="duplicate"`) {
		t.Errorf("re-upload of the same file not flagged:\n%s", again.Body)
	}
	if n := len(p.tenant.Graph.Received()); n != 1 {
		t.Errorf("Intune received %d uploads, want 1", n)
	}
}

func TestReviewBelongsToItsSession(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	other, _ := signedInHannah(t, p)
	m := confirmAction.FindStringSubmatch(review.Body)
	otherHome := other.Get("/")
	got := other.Do(http.MethodPost, "/uploads/"+m[1]+"/confirm", map[string][]string{"csrf_token": {csrfFrom(t, otherHome.Body)}}, map[string]string{"Origin": other.Base})
	if got.Status != http.StatusGone {
		t.Errorf("another session confirmed the review: %d", got.Status)
	}
}

func TestIntuneRejectionPage(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	// Renamed, the expired sample does not tell its download time: the review lets it through
	// and Intune refuses it.
	expired := MustSample(t, p, abmSoon, sandbox.SampleExpired)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", "token.p7m", expired.Data)
	got := confirmReview(t, b, review, ackAll(review)...)
	if got.Status != http.StatusOK || !strings.Contains(got.Body, `data-state="failed"`) || !strings.Contains(got.Body, "Intune rejected the token") {
		t.Fatalf("rejection: %d\n%s", got.Status, got.Body)
	}
	for _, want := range []string{"Request ID", "Client request ID", "Activity ID", "Date"} {
		if !strings.Contains(got.Body, want) {
			t.Errorf("rejection page lacks %q", want)
		}
	}
	// Intune's own reason comes first, before any cause the portal suggests.
	reason := strings.Index(got.Body, `data-testid="intune-reason"`)
	if reason < 0 || !strings.Contains(got.Body[reason:], "the token expired on") || reason > strings.Index(got.Body, "The usual causes") {
		t.Errorf("the page does not lead with Intune's reason:\n%s", got.Body)
	}
	// The review matched the key and could not date the file: only the causes that fit.
	if strings.Contains(got.Body, "another MDM server") || !strings.Contains(got.Body, "The file has expired") {
		t.Errorf("causes do not fit the review:\n%s", got.Body)
	}
}

var ackValue = regexp.MustCompile(`name="ack" value="([^"]+)"`)

func ackAll(review testkit.Page) []string {
	var out []string
	for _, m := range ackValue.FindAllStringSubmatch(review.Body, -1) {
		out = append(out, m[1])
	}
	return out
}

// The access token expires between the sign-in and the upload: the portal's clock moves past
// it (nobody sleeps), and the upload goes through on a refreshed token, saved to the session.
func TestUploadWithExpiredAccessTokenRefreshes(t *testing.T) {
	t.Parallel()
	const lifetime = 10 * time.Minute // within the idle timeout (30 min): only the token expires
	clock := testkit.NewClock()
	p := newTestPortalWith(t, nil, func(o *app.Options) {
		o.Now = clock.Now
		o.Sandbox.AccessTokenLifetime = lifetime
	})
	b, csrf := signedInHannah(t, p)
	tokens := func() []byte {
		t.Helper()
		var sealed []byte
		if err := p.app.DB().SQL().QueryRow(`SELECT tokens FROM sessions`).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		return sealed
	}
	before := tokens()
	// While the token is fresh, a page that reads Graph uses it as it is.
	if home := b.Get("/"); home.Status != http.StatusOK || !strings.Contains(home.Body, "Contoso ABM") {
		t.Fatalf("home page with a fresh token: %d", home.Status)
	}
	if !bytes.Equal(before, tokens()) {
		t.Fatal("the tokens were refreshed before they expired: the test below would prove nothing")
	}
	clock.Advance(lifetime) // the access token has expired
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	if got := confirmReview(t, b, review); got.Status != http.StatusOK {
		t.Fatalf("upload after expiry: %d\n%s", got.Status, got.Body)
	}
	if bytes.Equal(before, tokens()) {
		t.Error("the session's tokens were not refreshed and saved")
	}
}

func TestPublicKeyDownload(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, _ := signedInHannah(t, p)
	got := b.Get("/settings/" + abmSoon + "/public-key")
	lines := strings.Split(strings.TrimSpace(got.Body), "\n")
	if got.Status != http.StatusOK || len(lines) != 3 || lines[0] != "-----BEGIN CERTIFICATE-----" || lines[2] != "-----END CERTIFICATE-----" {
		t.Fatalf("public key: %d\n%s", got.Status, got.Body)
	}
	if cd := got.Header.Get("Content-Disposition"); !strings.Contains(cd, `filename="Contoso_ABM_public_key.pem"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
}
