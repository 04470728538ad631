package e2e

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	_ "modernc.org/sqlite"

	"github.com/depportal/depportal/internal/testkit"
)

// MustProviderSession reads, from the portal's own database, the provider's session (sid) and
// the login_hint of the one portal session there is: what Entra knows of the browser, and
// what a test cannot read from the browser (the ID token never leaves the server).
func MustProviderSession(tb testing.TB, p *portal) (sid, loginHint string) {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(p.DataDir, "depportal.db")+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT provider_sid, login_hint FROM sessions`).Scan(&sid, &loginHint); err != nil {
		tb.Fatalf("the portal's session: %v", err)
	}
	if sid == "" || loginHint == "" {
		tb.Fatalf("the session has no sid (%q) or login_hint (%q)", sid, loginHint)
	}
	return sid, loginHint
}

// Una is not assigned to the app, which requires assignment: Entra refuses her and she is told
// whom to ask, with Entra's error for the ticket.
func TestUnaUnassignedIsToldWhomToAsk(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "una", "")
	MustDo(t, ctx, screenshot("06-not-assigned-una"))
	heading, body := text(t, ctx, "main h1"), text(t, ctx, "main")
	if heading != "You are not assigned to depportal" || !strings.Contains(body, "DepToken.Upload") || !strings.Contains(body, "AADSTS50105") ||
		!strings.Contains(body, "Portal request ID") {
		t.Errorf("Una sees %q: %s", heading, body)
	}
}

// Gus, a B2B guest holding the uploader role here, signs in and sees the tokens.
func TestGusGuestIsAdmitted(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "gus", "")
	MustDo(t, ctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid="tokens"]`)), screenshot("07-guest-gus"))
	if name := text(t, ctx, `[data-testid="user-name"]`); name != "Gus Guest" {
		t.Errorf("header shows %q", name)
	}
	if list := text(t, ctx, `[data-testid="tokens"]`); !strings.Contains(list, "Contoso ABM") {
		t.Errorf("token list: %s", list)
	}
}

// Front-channel logout: Entra's call names the provider's session and carries no cookie of
// the portal's. Made from another browser context, with no cookies at all, it ends Hannah's
// session in hers.
func TestFrontChannelLogoutFromAnotherContext(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	hannah := MustBrowser(t)
	signInAs(t, hannah, p, "hannah", "")
	sid, _ := MustProviderSession(t, p)

	elsewhere := MustBrowser(t)
	call := p.URL + "/auth/front-channel-logout?" + url.Values{"iss": {issuerOf(p)}, "sid": {sid}}.Encode()
	MustDo(t, elsewhere, chromedp.Navigate(call), chromedp.WaitVisible(`//h1[contains(., "Signed out")]`))

	MustDo(t, hannah, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("persona-hannah")))
	if loc := MustGet(t, hannah, chromedp.Location()); !strings.Contains(loc, "/_sandbox/idp/") {
		t.Errorf("Hannah's session outlived the front-channel logout: at %s", loc)
	}
}

// Signing out of Entra from another app in the same browser (its own sign-out sends the
// browser to the end-session endpoint): the provider calls the portal's front-channel logout
// URL, and the portal session ends too.
func TestSigningOutOfEntraEndsThePortalSession(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	p := MustStartPortal(t)
	ctx := MustBrowser(t)
	signInAs(t, ctx, p, "hannah", "")
	_, hint := MustProviderSession(t, p)
	MustDo(t, ctx,
		chromedp.Navigate(issuerOf(p)+"/end_session?"+url.Values{"logout_hint": {hint}}.Encode()),
		chromedp.WaitVisible(`//h1[contains(., "You signed out of your account")]`),
		chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.ID("persona-hannah")))
	if !strings.Contains(p.out.String(), "front-channel logout") || !strings.Contains(p.out.String(), "sessions_ended=1") {
		t.Errorf("the portal did not log the front-channel logout:\n%s", p.out.String())
	}
}

// issuerOf is the sandbox provider's issuer for the portal at p.URL.
func issuerOf(p *portal) string {
	return p.URL + "/_sandbox/idp/7f3c9a2e-5b14-4d8e-9c61-2a0f4e8b1d37/v2.0"
}
