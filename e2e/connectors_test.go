package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/depportal/depportal/internal/testkit"
)

// The sandbox, nobody signed in yet: the watch has read the three kinds of connector and sent
// its reminders. Hannah sees a banner naming the three that need renewing and the home page
// lists all three kinds; Avery, who does not renew, sees the banner and the watch's list. Hannah
// renews the 9-day token through the pages: at once it leaves the banner and the expiry gauge
// shows a year ahead, and the watch's next read (brought forward by the renewal) sends no
// reminder for it.
func TestRenewingATokenEndsItsBannerAndReminders(t *testing.T) {
	t.Parallel()
	testkit.MustChromium(t)
	// One read a minute (the least allowed), so that the renewal's "read again now" shows
	// within the test: the poller steps every 5 s.
	p := MustStartPortal(t, "DEPPORTAL_WATCH_INTERVAL=1m")
	if !waitFor(20*time.Second, func() bool { return len(mustOutbox(t, p)) >= 9 }) {
		t.Fatalf("no nine reminders in the outbox after 20 s: %v", mustOutbox(t, p))
	}

	hannah := MustBrowser(t)
	signInAs(t, hannah, p, "hannah", "")
	MustDo(t, hannah, chromedp.WaitVisible(chromedp.CSS(`[data-testid="connector-banner"]`)), screenshot("50-connector-banner"))
	banner := text(t, hannah, `[data-testid="connector-banner"]`)
	for _, want := range []string{"3 Apple connectors need renewing soon", `ADE server token Contoso ABM expires on`, "in 9 days",
		"ADE server token Contoso Retail ABM expired on", "Apps and Books token Contoso Apps and Books expires on", "in 20 days"} {
		if !strings.Contains(banner, want) {
			t.Errorf("Hannah's banner lacks %q: %s", want, banner)
		}
	}
	if strings.Contains(banner, "push certificate") || strings.Contains(banner, "Schools") {
		t.Errorf("the banner names a connector with more than 30 days left: %s", banner)
	}
	vpp := text(t, hannah, `[data-testid="vpp"]`)
	push := text(t, hannah, `[data-testid="push"]`)
	if !strings.Contains(vpp, "Contoso Apps and Books") || !strings.Contains(vpp, "Contoso Schools Apps") || !strings.Contains(vpp, "20 days left") ||
		!strings.Contains(vpp, "Intune admin center") {
		t.Errorf("Apps and Books tokens on the home page: %s", vpp)
	}
	if !strings.Contains(push, "mdm-push@contoso.com") || !strings.Contains(push, "45 days left") || !strings.Contains(push, "Push Certificates Portal") {
		t.Errorf("push certificate on the home page: %s", push)
	}
	// The banner's Renew link leads to the token's page.
	MustDo(t, hannah, chromedp.Click(`//*[@data-testid="connector-banner"]//li[contains(., "Contoso ABM")]//a`),
		chromedp.WaitVisible(chromedp.ID("token_file")))

	avery := MustBrowser(t)
	signInAs(t, avery, p, "avery", "")
	MustDo(t, avery, chromedp.WaitVisible(chromedp.CSS(`[data-testid="watched"]`)), screenshot("51-auditor-connectors"))
	if b := text(t, avery, `[data-testid="connector-banner"]`); !strings.Contains(b, "Contoso ABM") || strings.Contains(b, "Renew it") {
		t.Errorf("Avery's banner (no Renew link for someone who cannot): %s", b)
	}
	if w := text(t, avery, `[data-testid="watched"]`); !strings.Contains(w, "mdm-push@contoso.com") || !strings.Contains(w, "Contoso Schools ASM") {
		t.Errorf("Avery's list of what the watch read: %s", w)
	}

	// Hannah renews Contoso ABM.
	const pollsOK = `depportal_watch_polls_total{result="ok"}`
	polls := metricValue(t, p, pollsOK)
	before := len(mustOutbox(t, p))
	uploadForReview(t, hannah, p, abmSoon, "abm-admin@contoso.com", MustDownloadSample(t, p, abmSoon+"/valid"))
	MustDo(t, hannah, chromedp.Click(chromedp.ID("confirm-upload")), chromedp.WaitVisible(`//h1[contains(., "Token renewed")]`))
	MustDo(t, hannah, chromedp.Navigate(p.URL+"/"), chromedp.WaitVisible(chromedp.CSS(`[data-testid="connector-banner"]`)), screenshot("52-banner-after-renewal"))
	banner = text(t, hannah, `[data-testid="connector-banner"]`)
	if strings.Contains(banner, "Contoso ABM ") || !strings.Contains(banner, "2 Apple connectors") {
		t.Errorf("after the renewal the banner still names Contoso ABM: %s", banner)
	}
	nextYear := strconv.Itoa(time.Now().Year() + 1)
	if secs := metricValue(t, p, `depportal_apple_connector_expiry_timestamp_seconds{kind="ade",name="Contoso ABM"}`); secs == 0 {
		t.Error("no expiry gauge for Contoso ABM")
	} else if time.Unix(int64(secs), 0).Before(time.Now().AddDate(0, 11, 0)) {
		t.Errorf("the expiry gauge still shows %s for the renewed token, not a date in %s", time.Unix(int64(secs), 0).UTC(), nextYear)
	}

	// The watch reads again within a few steps (not a minute later) and sends nothing new.
	if !waitFor(15*time.Second, func() bool { return metricValue(t, p, pollsOK) > polls }) {
		t.Fatal("after 15 s still waiting for the watch's read brought forward by the renewal")
	}
	msgs := mustOutbox(t, p)
	for _, m := range msgs[before:] {
		t.Errorf("a reminder after the renewal: %s %s", m.Channel, m.Summary)
	}
}
