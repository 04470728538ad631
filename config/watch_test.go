package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"
)

const watchClientID = "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d"

func TestWatchOffUnlessConfigured(t *testing.T) {
	t.Parallel()
	c := MustLoad(t, tenantEnv())
	if c.Watch.Enabled() {
		t.Error("the watch runs with no DEPPORTAL_WATCH_* set")
	}
	if c.Watch.Interval != 6*time.Hour {
		t.Errorf("default interval %s, want 6h", c.Watch.Interval)
	}
}

func TestWatchWithSecret(t *testing.T) {
	t.Parallel()
	m := tenantEnv()
	m["DEPPORTAL_WATCH_CLIENT_ID"] = watchClientID
	m["DEPPORTAL_WATCH_CLIENT_SECRET"] = "watch-secret"
	m["DEPPORTAL_WATCH_INTERVAL"] = "2h"
	c := MustLoad(t, m)
	if !c.Watch.Enabled() || c.Watch.ClientSecret != "watch-secret" || c.Watch.Interval != 2*time.Hour {
		t.Errorf("watch = %+v", c.Watch)
	}
	if got := c.WatchTokenURL(); got != "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token" {
		t.Errorf("token URL %s", got)
	}
	if got := c.WatchScope(); got != "https://graph.microsoft.com/.default" {
		t.Errorf("scope %s", got)
	}
	m["GRAPH_BASE_URL"] = "https://graph.microsoft.us/beta"
	m["ENTRA_AUTHORITY_HOST"] = "https://login.microsoftonline.us"
	c = MustLoad(t, m)
	if c.WatchScope() != "https://graph.microsoft.us/.default" || !strings.HasPrefix(c.WatchTokenURL(), "https://login.microsoftonline.us/") {
		t.Errorf("national cloud: scope %s, token URL %s", c.WatchScope(), c.WatchTokenURL())
	}
}

func TestWatchWithCertificate(t *testing.T) {
	t.Parallel()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), NotBefore: time.Now(), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	bundle := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})...)
	m := tenantEnv()
	m["DEPPORTAL_WATCH_CLIENT_ID"] = watchClientID
	m["DEPPORTAL_WATCH_CLIENT_CERTIFICATE"] = string(bundle)
	c := MustLoad(t, m)
	if len(c.Watch.ClientCertificatePEM) == 0 || c.Watch.ClientSecret != "" {
		t.Errorf("certificate not taken: %+v", c.Watch)
	}
}

func TestWatchProblemsNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"secret without ID", map[string]string{"DEPPORTAL_WATCH_CLIENT_SECRET": "x"}, "DEPPORTAL_WATCH_CLIENT_ID is missing"},
		{"ID without credential", map[string]string{"DEPPORTAL_WATCH_CLIENT_ID": watchClientID}, "DEPPORTAL_WATCH_CLIENT_SECRET is missing"},
		{"ID not a GUID", map[string]string{"DEPPORTAL_WATCH_CLIENT_ID": "watch", "DEPPORTAL_WATCH_CLIENT_SECRET": "x"}, "a GUID"},
		{"the portal's own registration", map[string]string{"DEPPORTAL_WATCH_CLIENT_ID": "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d", "DEPPORTAL_WATCH_CLIENT_SECRET": "x"}, "second app registration"},
		{"secret and certificate", map[string]string{"DEPPORTAL_WATCH_CLIENT_ID": watchClientID, "DEPPORTAL_WATCH_CLIENT_SECRET": "x", "DEPPORTAL_WATCH_CLIENT_CERTIFICATE": "-----BEGIN CERTIFICATE-----"}, "not both"},
		{"certificate unreadable", map[string]string{"DEPPORTAL_WATCH_CLIENT_ID": watchClientID, "DEPPORTAL_WATCH_CLIENT_CERTIFICATE": "/nonexistent/watch.pem"}, "DEPPORTAL_WATCH_CLIENT_CERTIFICATE: neither PEM text nor a readable file"},
		{"interval too short", map[string]string{"DEPPORTAL_WATCH_INTERVAL": "10s"}, "DEPPORTAL_WATCH_INTERVAL must be at least 1m0s"},
		{"interval not a duration", map[string]string{"DEPPORTAL_WATCH_INTERVAL": "daily"}, "DEPPORTAL_WATCH_INTERVAL must be a positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tenantEnv()
			for k, v := range tc.set {
				m[k] = v
			}
			problems := strings.Join(MustFail(t, m), "\n")
			if !strings.Contains(problems, tc.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", problems, tc.want)
			}
		})
	}
}

// A watch credential with no tenant is named, not quietly dropped into the sandbox.
func TestWatchCredentialWithoutTenant(t *testing.T) {
	t.Parallel()
	problems := strings.Join(MustFail(t, map[string]string{"DEPPORTAL_WATCH_CLIENT_ID": watchClientID, "DEPPORTAL_WATCH_CLIENT_SECRET": "x"}), "\n")
	if !strings.Contains(problems, "set the ENTRA_* variables too") {
		t.Errorf("problems: %s", problems)
	}
}

func TestReminderChannels(t *testing.T) {
	t.Parallel()
	m := tenantEnv()
	m["DEPPORTAL_REMINDER_DAYS"] = "7, 30,1,7"
	m["DEPPORTAL_REMINDER_TEAMS_URL"] = "https://prod-01.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=secret"
	m["DEPPORTAL_REMINDER_WEBHOOK_URL"] = "https://tickets.contoso.com/hooks/depportal"
	m["DEPPORTAL_REMINDER_WEBHOOK_SECRET"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	m["DEPPORTAL_REMINDER_SMTP_ADDR"] = "smtp.office365.com:587"
	m["DEPPORTAL_REMINDER_SMTP_USERNAME"] = "depportal@contoso.com"
	m["DEPPORTAL_REMINDER_SMTP_PASSWORD"] = "pw"
	m["DEPPORTAL_REMINDER_EMAIL_FROM"] = "depportal@contoso.com"
	m["DEPPORTAL_REMINDER_EMAIL_TO"] = "intune-admins@contoso.com, helpdesk@contoso.com"
	r := MustLoad(t, m).Watch.Reminders
	if fmt.Sprint(r.Days) != "[30 7 1]" || len(r.EmailTo) != 2 || !r.Any() {
		t.Errorf("reminders = %+v", r)
	}
	if d := MustLoad(t, tenantEnv()).Watch.Reminders; fmt.Sprint(d.Days) != "[30 14 7 3 1]" || d.Any() {
		t.Errorf("defaults = %+v", d)
	}
}

func TestReminderProblemsNamed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		set  map[string]string
		want string
	}{
		{"days", map[string]string{"DEPPORTAL_REMINDER_DAYS": "30,soon"}, "DEPPORTAL_REMINDER_DAYS must be whole days"},
		{"plain http", map[string]string{"DEPPORTAL_REMINDER_TEAMS_URL": "http://teams.example/hook"}, "DEPPORTAL_REMINDER_TEAMS_URL: must use https"},
		{"unsigned webhook", map[string]string{"DEPPORTAL_REMINDER_WEBHOOK_URL": "https://t.example/h"}, "DEPPORTAL_REMINDER_WEBHOOK_SECRET is missing"},
		{"short secret", map[string]string{"DEPPORTAL_REMINDER_WEBHOOK_URL": "https://t.example/h", "DEPPORTAL_REMINDER_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, "24 to 64 random bytes"},
		{"smtp without port", map[string]string{"DEPPORTAL_REMINDER_SMTP_ADDR": "smtp.example", "DEPPORTAL_REMINDER_EMAIL_FROM": "a@b", "DEPPORTAL_REMINDER_EMAIL_TO": "c@d"}, "must be host:port"},
		{"smtp without recipients", map[string]string{"DEPPORTAL_REMINDER_SMTP_ADDR": "smtp.example:587"}, "DEPPORTAL_REMINDER_EMAIL_FROM and DEPPORTAL_REMINDER_EMAIL_TO are needed"},
		{"user without password", map[string]string{"DEPPORTAL_REMINDER_SMTP_ADDR": "smtp.example:587", "DEPPORTAL_REMINDER_EMAIL_FROM": "a@b", "DEPPORTAL_REMINDER_EMAIL_TO": "c@d", "DEPPORTAL_REMINDER_SMTP_USERNAME": "u"}, "or neither"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tenantEnv()
			for k, v := range tc.set {
				m[k] = v
			}
			if problems := strings.Join(MustFail(t, m), "\n"); !strings.Contains(problems, tc.want) {
				t.Errorf("problems:\n%s\nwant %q", problems, tc.want)
			}
		})
	}
}

// The sandbox's Graph is in-process: its watch may read every 10 s (no less), a tenant's
// every minute at the least.
func TestSandboxWatchIntervalFloor(t *testing.T) {
	t.Parallel()
	if c := MustLoad(t, map[string]string{"DEPPORTAL_WATCH_INTERVAL": "20s"}); c.Mode != ModeSandbox || c.Watch.Interval != 20*time.Second {
		t.Errorf("sandbox with 20s: mode %s, interval %s", c.Mode, c.Watch.Interval)
	}
	if problems := strings.Join(MustFail(t, map[string]string{"DEPPORTAL_WATCH_INTERVAL": "5s"}), "\n"); !strings.Contains(problems, "must be at least 10s") {
		t.Errorf("sandbox with 5s: %s", problems)
	}
	m := tenantEnv()
	m["DEPPORTAL_WATCH_INTERVAL"] = "20s"
	if problems := strings.Join(MustFail(t, m), "\n"); !strings.Contains(problems, "must be at least 1m0s") {
		t.Errorf("tenant with 20s: %s", problems)
	}
}
