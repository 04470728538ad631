package config

import (
	"net/url"
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
}

// Enabled reports whether the watch runs.
func (w Watch) Enabled() bool { return w.ClientID != "" }

// minWatchInterval keeps a mistyped interval from polling Graph in a loop.
const minWatchInterval = time.Minute

// loadWatch reads DEPPORTAL_WATCH_*. The watch reads a real tenant only with the tenant's
// variables set: a watch credential in sandbox mode is a mistake to name, not to ignore.
func loadWatch(c *Config, get func(string) string, getenv func(string) string, bad func(string, ...any)) {
	w := Watch{
		ClientID:     get("DEPPORTAL_WATCH_CLIENT_ID"),
		ClientSecret: get("DEPPORTAL_WATCH_CLIENT_SECRET"),
		Interval:     duration(get("DEPPORTAL_WATCH_INTERVAL"), 6*time.Hour, "DEPPORTAL_WATCH_INTERVAL", bad),
	}
	if w.Interval < minWatchInterval {
		bad("DEPPORTAL_WATCH_INTERVAL must be at least %s, not %s", minWatchInterval, w.Interval)
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
