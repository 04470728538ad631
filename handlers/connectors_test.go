package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

// Without the watch, the home page reads all three kinds with Hannah's own token and says what
// needs renewing; other pages have nothing to show a banner from.
func TestHomeReadsTheThreeKindsWithThePersonsToken(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, _ := signedInHannah(t, p)
	home := b.Get("/")
	for _, want := range []string{`data-testid="vpp"`, "Contoso Apps and Books", "Contoso Schools Apps", "20 days left",
		`data-testid="push"`, "mdm-push@contoso.com", "45 days left", "Push Certificates Portal",
		`data-testid="connector-banner"`, "3 Apple connectors need renewing soon", `href="/settings/` + abmSoon + `"`} {
		if !strings.Contains(home.Body, want) {
			t.Errorf("home page lacks %s", want)
		}
	}
	if audit := b.Get("/audit"); strings.Contains(audit.Body, `data-testid="connector-banner"`) {
		t.Error("a banner on another page without the watch: nothing read it")
	}
}

// Intune refusing one kind (Hannah's Intune role cannot read Apps and Books tokens) says so in
// that section, and the rest of the page stands.
func TestOneRefusedReadLeavesTheRest(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, _ := signedInHannah(t, p)
	p.tenant.Graph.InjectFault(sandbox.OpVppTokens, sandbox.Fault{Status: 403})
	home := b.Get("/")
	if home.Status != 200 {
		t.Fatalf("home: %d", home.Status)
	}
	for _, want := range []string{"Intune did not list the Apps and Books tokens", "does not let you read the Apps and Books tokens",
		`data-testid="tokens"`, "Contoso ABM", `data-testid="push"`} {
		if !strings.Contains(home.Body, want) {
			t.Errorf("home page lacks %q", want)
		}
	}
	if strings.Contains(home.Body, `data-testid="vpp"`) {
		t.Error("an Apps and Books table although Intune refused the read")
	}
}

// With the watch, every signed-in person sees the banner on every page: a Renew link for those
// who may renew, where-to-go for those who may not; the auditor's home lists the watch's read.
func TestWatchBannerForEveryone(t *testing.T) {
	t.Parallel()
	p := newTestPortalWith(t, nil, func(o *app.Options) { o.Sandbox.Watch = true })
	hannah, _ := signedInHannah(t, p)
	avery := p.browser(t)
	testkit.MustSignIn(t, avery, "avery", "/")

	var audit string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if audit = avery.Get("/audit").Body; strings.Contains(audit, `data-testid="connector-banner"`) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{"3 Apple connectors need renewing soon", "Contoso ABM", "Contoso Retail ABM", "Contoso Apps and Books",
		"Someone with the uploader role renews it"} {
		if !strings.Contains(audit, want) {
			t.Errorf("Avery's audit page banner lacks %q", want)
		}
	}
	if strings.Contains(audit, "/settings/") {
		t.Error("Avery's banner links to a page she may not open")
	}
	if home := avery.Get("/").Body; !strings.Contains(home, `data-testid="watched"`) || !strings.Contains(home, "Contoso Schools ASM") {
		t.Error("Avery's home page does not list the watch's read")
	}
	if page := hannah.Get("/audit").Body; !strings.Contains(page, `href="/settings/`+abmExpired+`"`) {
		t.Error("Hannah's banner has no Renew link for the expired token")
	}
	// Nora, in the tenant but without a portal role, learns nothing about the connectors.
	nora := p.browser(t)
	if page, _ := testkit.MustSignIn(t, nora, "nora", "/"); strings.Contains(page.Body, "connector-banner") || strings.Contains(page.Body, "Contoso ABM") {
		t.Error("Nora, who holds no portal role, sees the connectors")
	}
}
