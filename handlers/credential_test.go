package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/internal/testkit"
)

// When the portal's own client secret has expired, Entra refuses every sign-in with
// AADSTS7000222: people see the operators' page, the log has an error, and the metric counts
// it; the secret's expiry is exported either way.
func TestExpiredClientSecret(t *testing.T) {
	t.Parallel()
	expired := time.Now().UTC().AddDate(0, 0, -1).Truncate(24 * time.Hour)
	p := newTestPortal(t, map[string]string{"ENTRA_CLIENT_SECRET_EXPIRES": expired.Format(time.DateOnly)})
	page, _ := testkit.MustSignIn(t, p.browser(t), "hannah", "/")
	if page.Status != http.StatusServiceUnavailable || !strings.Contains(page.Body, "depportal cannot sign anyone in") ||
		!strings.Contains(page.Body, "AADSTS7000222") || !strings.Contains(page.Body, "Portal request ID") {
		t.Errorf("sign-in with an expired secret: %d %s", page.Status, page.Body)
	}
	if !strings.Contains(p.logs.String(), "level=ERROR msg=\"Entra ID refused the portal's client credential\"") ||
		!strings.Contains(p.logs.String(), "aadsts=7000222") {
		t.Errorf("no error log line:\n%s", p.logs)
	}
	if !strings.Contains(p.logs.String(), "the client secret has expired") {
		t.Error("the credential watch did not log the expired secret")
	}
	metrics := p.browser(t).Get("/metrics").Body
	for _, want := range []string{`depportal_signins_total{result="client_credential"} 1`,
		fmt.Sprintf(`depportal_client_credential_expiry_timestamp_seconds{kind="secret"} %g`, float64(expired.Unix()))} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// From 30 days before the client secret expires, every signed-in person's pages say so (so
// that someone tells the operators in time); before that, and for nobody signed in, nothing.
func TestCredentialExpiryBanner(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		days   int
		banner bool
	}{{12, true}, {40, false}} {
		expires := time.Now().UTC().AddDate(0, 0, c.days).Truncate(24 * time.Hour)
		p := newTestPortal(t, map[string]string{"ENTRA_CLIENT_SECRET_EXPIRES": expires.Format(time.DateOnly)})
		for _, persona := range []string{"hannah", "avery"} {
			home, _ := testkit.MustSignIn(t, p.browser(t), persona, "/")
			got := strings.Contains(home.Body, `data-testid="credential-expiry"`)
			if got != c.banner {
				t.Errorf("%d days left, %s: banner %v, want %v", c.days, persona, got, c.banner)
			}
			if c.banner && (!strings.Contains(home.Body, "client secret expires on") || !strings.Contains(home.Body, expires.Format("2 Jan 2006")) ||
				!strings.Contains(home.Body, "operators")) {
				t.Errorf("%s: banner words: %s", persona, home.Body)
			}
		}
		if anon := p.browser(t).Get("/signed-out"); strings.Contains(anon.Body, "credential-expiry") {
			t.Error("the banner is shown to nobody signed in")
		}
		if c.banner && !strings.Contains(p.logs.String(), "the client secret expires soon") {
			t.Errorf("%d days left: no warning in the log", c.days)
		}
	}
}
