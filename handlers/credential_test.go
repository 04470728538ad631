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
