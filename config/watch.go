package config

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/depportal/depportal/entra"
)

// Watch configures the watch: a read-only poller of the tenant's Apple connectors with a
// credential of its own, an app registration holding only the application permission
// DeviceManagementServiceConfig.Read.All (docs/decisions/0011). It is off unless ClientID is
// set; the sandbox turns it on with its own registration.
type Watch struct {
	ClientID     string
	ClientSecret string
	// ClientCertificatePEM (certificate + RSA private key) replaces ClientSecret when set.
	ClientCertificatePEM []byte
	// TokenURL is the token endpoint the credential is presented to; empty in tenant mode,
	// where it derives from the authority and tenant (WatchTokenURL). The sandbox sets it.
	TokenURL string
	Interval time.Duration // between two reads of Intune; the first is at start
	// Reminders are the channels the watch sends reminders to.
	Reminders Reminders
}

// Enabled reports whether the watch runs.
func (w Watch) Enabled() bool { return w.ClientID != "" }

// minWatchInterval keeps a mistyped interval from polling Graph in a loop. The sandbox's Graph
// is in this process, so its watch may read more often (a demo, a test of takeovers).
const (
	minWatchInterval        = time.Minute
	minSandboxWatchInterval = 10 * time.Second
)

// loadWatch reads DEPPORTAL_WATCH_*. The watch reads a real tenant only with the tenant's
// variables set: a watch credential in sandbox mode is a mistake to name, not to ignore.
func loadWatch(c *Config, get func(string) string, getenv func(string) string, bad func(string, ...any)) {
	w := Watch{
		ClientID:     get("DEPPORTAL_WATCH_CLIENT_ID"),
		ClientSecret: get("DEPPORTAL_WATCH_CLIENT_SECRET"),
		Interval:     duration(get("DEPPORTAL_WATCH_INTERVAL"), 6*time.Hour, "DEPPORTAL_WATCH_INTERVAL", bad),
	}
	least := minWatchInterval
	if c.Mode == ModeSandbox {
		least = minSandboxWatchInterval
	}
	if w.Interval < least {
		bad("DEPPORTAL_WATCH_INTERVAL must be at least %s, not %s", least, w.Interval)
	}
	certRaw := strings.TrimSpace(getenv("DEPPORTAL_WATCH_CLIENT_CERTIFICATE"))
	anySet := w.ClientID != "" || w.ClientSecret != "" || certRaw != ""
	switch {
	case !anySet:
	case c.Mode != ModeTenant:
		bad("DEPPORTAL_WATCH_CLIENT_ID, _SECRET and _CERTIFICATE read a real tenant: set the ENTRA_* variables too (the sandbox runs its watch with no configuration)")
	case w.ClientID == "":
		bad("DEPPORTAL_WATCH_CLIENT_ID is missing (the watch's credential is set, so the watch is meant)")
	case !entra.IsGUID(w.ClientID):
		bad("DEPPORTAL_WATCH_CLIENT_ID must be the watch app registration's application (client) ID, a GUID")
	case strings.EqualFold(w.ClientID, c.ClientID):
		bad("DEPPORTAL_WATCH_CLIENT_ID must be a second app registration, not the portal's own (ENTRA_CLIENT_ID): the watch holds an application permission the portal must not have")
	case w.ClientSecret == "" && certRaw == "":
		bad("DEPPORTAL_WATCH_CLIENT_SECRET is missing (or set DEPPORTAL_WATCH_CLIENT_CERTIFICATE to use a certificate instead)")
	case w.ClientSecret != "" && certRaw != "":
		bad("set DEPPORTAL_WATCH_CLIENT_SECRET or DEPPORTAL_WATCH_CLIENT_CERTIFICATE, not both")
	case certRaw != "":
		pemData, err := clientCertificate(certRaw)
		if err != nil {
			bad("DEPPORTAL_WATCH_CLIENT_CERTIFICATE: %v", err)
		}
		w.ClientCertificatePEM = pemData
	}
	c.Watch = w
	loadReminders(c, get, bad)
}

// WatchTokenURL is the token endpoint the watch's credential goes to: Entra's v2.0 endpoint of
// the tenant, or the sandbox's.
func (c Config) WatchTokenURL() string {
	if c.Watch.TokenURL != "" {
		return c.Watch.TokenURL
	}
	return strings.TrimRight(c.AuthorityHost, "/") + "/" + strings.ToLower(c.TenantID) + "/oauth2/v2.0/token"
}

// WatchScope is what the watch asks for: every application permission granted to its
// registration on the Graph host of the configured cloud.
func (c Config) WatchScope() string {
	u, err := url.Parse(c.GraphBaseURL)
	if err != nil || u.Host == "" || isLoopback(u.Hostname()) {
		return "https://graph.microsoft.com/.default"
	}
	return "https://" + u.Host + "/.default"
}

// Reminders are where the watch sends reminders; any combination, none by default.
type Reminders struct {
	Days []int // thresholds in days before expiry, descending

	TeamsURL string // a Teams Workflows "When a Teams webhook request is received" URL

	WebhookURL    string
	WebhookSecret string // whsec_…, Standard Webhooks

	SMTPAddr     string // host:port; STARTTLS is required
	SMTPUsername string
	SMTPPassword string
	EmailFrom    string
	EmailTo      []string
}

// Any reports whether some channel is configured.
func (r Reminders) Any() bool { return r.TeamsURL != "" || r.WebhookURL != "" || r.SMTPAddr != "" }

func loadReminders(c *Config, get func(string) string, bad func(string, ...any)) {
	r := Reminders{
		Days:          []int{30, 14, 7, 3, 1},
		TeamsURL:      get("DEPPORTAL_REMINDER_TEAMS_URL"),
		WebhookURL:    get("DEPPORTAL_REMINDER_WEBHOOK_URL"),
		WebhookSecret: get("DEPPORTAL_REMINDER_WEBHOOK_SECRET"),
		SMTPAddr:      get("DEPPORTAL_REMINDER_SMTP_ADDR"),
		SMTPUsername:  get("DEPPORTAL_REMINDER_SMTP_USERNAME"),
		SMTPPassword:  get("DEPPORTAL_REMINDER_SMTP_PASSWORD"),
		EmailFrom:     get("DEPPORTAL_REMINDER_EMAIL_FROM"),
	}
	if raw := get("DEPPORTAL_REMINDER_DAYS"); raw != "" {
		r.Days = nil
		for _, part := range strings.Split(raw, ",") {
			d, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil || d < 1 || d > 365 {
				bad("DEPPORTAL_REMINDER_DAYS must be whole days between 1 and 365, comma-separated (30,14,7,3,1), not %q", raw)
				break
			}
			r.Days = append(r.Days, d)
		}
		slices.Sort(r.Days)
		slices.Reverse(r.Days)
		r.Days = slices.Compact(r.Days)
	}
	for _, to := range strings.Split(get("DEPPORTAL_REMINDER_EMAIL_TO"), ",") {
		if to = strings.TrimSpace(to); to != "" {
			r.EmailTo = append(r.EmailTo, to)
		}
	}
	for name, u := range map[string]string{"DEPPORTAL_REMINDER_TEAMS_URL": r.TeamsURL, "DEPPORTAL_REMINDER_WEBHOOK_URL": r.WebhookURL} {
		if u == "" {
			continue
		}
		if _, err := parseReceiverURL(u); err != nil {
			bad("%s: %v", name, err)
		}
	}
	switch {
	case r.WebhookURL != "" && r.WebhookSecret == "":
		bad("DEPPORTAL_REMINDER_WEBHOOK_SECRET is missing: the webhook is signed (Standard Webhooks; make one with: echo whsec_$(openssl rand -base64 32))")
	case r.WebhookSecret != "":
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.WebhookSecret, "whsec_"))
		if err != nil || len(key) < 24 || len(key) > 64 {
			bad("DEPPORTAL_REMINDER_WEBHOOK_SECRET must be whsec_ then base64 of 24 to 64 random bytes (echo whsec_$(openssl rand -base64 32))")
		}
	}
	if r.SMTPAddr != "" {
		if _, port, err := net.SplitHostPort(r.SMTPAddr); err != nil || port == "" {
			bad("DEPPORTAL_REMINDER_SMTP_ADDR must be host:port, e.g. smtp.office365.com:587, not %q", r.SMTPAddr)
		}
		if r.EmailFrom == "" || len(r.EmailTo) == 0 {
			bad("DEPPORTAL_REMINDER_EMAIL_FROM and DEPPORTAL_REMINDER_EMAIL_TO are needed with DEPPORTAL_REMINDER_SMTP_ADDR")
		}
		if (r.SMTPUsername == "") != (r.SMTPPassword == "") {
			bad("set both DEPPORTAL_REMINDER_SMTP_USERNAME and DEPPORTAL_REMINDER_SMTP_PASSWORD, or neither")
		}
	}
	c.Watch.Reminders = r
}

// parseReceiverURL accepts https, and http for loopback (a receiver on the same host).
func parseReceiverURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("not an absolute https URL")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("must use https (http only for localhost)")
	}
	return u, nil
}
