// Package config reads depportal's settings from the environment.
//
// It owns the list of variables, their defaults, and the checks of every value it interprets
// itself. It must never fall back to the sandbox when a tenant is partly configured: Load names
// every missing variable, and every malformed one it interprets, in one error instead, so an
// operator fixes them all in one go. A value whose format another package owns (the audit
// signing key, audit's) passes through as text: its owner checks it where it is used, and the
// error names the variable there. To validate, config imports no other package of the portal
// but entra, the leaf that knows what an Entra ID looks like.
package config

import (
	"crypto/rsa"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/depportal/depportal/entra"
)

// Mode says where identities and Intune come from.
type Mode string

const (
	// ModeSandbox serves an embedded OpenID provider and Intune simulator; nothing is real.
	ModeSandbox Mode = "sandbox"
	// ModeTenant signs people in through Entra ID and calls the real Microsoft Graph.
	ModeTenant Mode = "tenant"
)

// Config is everything the portal needs to start.
type Config struct {
	Mode Mode

	Listen    string   // address to listen on, e.g. ":8080"
	PublicURL *url.URL // how browsers reach the portal; redirect URIs derive from it
	DataDir   string   // sandbox keys, generated secrets, the default SQLite file

	TenantID     string
	ClientID     string
	ClientSecret string
	// ClientCertificatePEM (certificate + private key) replaces ClientSecret when set.
	ClientCertificatePEM []byte
	// ClientSecretExpires is the secret's expiry as the app registration shows it
	// (ENTRA_CLIENT_SECRET_EXPIRES); zero when not given. Entra does not tell a client when
	// its secret expires, so the operator copies it.
	ClientSecretExpires time.Time
	AuthorityHost       string // e.g. https://login.microsoftonline.com
	GraphBaseURL        string // e.g. https://graph.microsoft.com/beta

	DatabaseURL string
	SessionKey  []byte // 32 bytes; nil in sandbox mode until the key file is read

	UploaderRole string
	AuditorRole  string

	SessionIdleTimeout     time.Duration
	SessionAbsoluteTimeout time.Duration

	TrustedProxies []netip.Prefix
	LogLevel       slog.Level

	GraphTimeout     time.Duration
	DepTokenEncoding string // "raw" or "base64": how uploadDepToken's depToken carries the file

	// AuditSigningKey is DEPPORTAL_AUDIT_SIGNING_KEY as set, trimmed and not yet parsed: the
	// checkpoint signer key, whose format audit owns (audit.New parses it and refuses a
	// malformed one). Empty in sandbox mode until the generated one under DataDir is read.
	AuditSigningKey string

	MetricsToken    string         // bearer token that opens /metrics from anywhere
	MetricsNetworks []netip.Prefix // client networks that may read /metrics without it

	// AuditWitness is where signed checkpoints are copied as they are made: file paths and
	// https URLs, comma-separated (DEPPORTAL_AUDIT_WITNESS; the audit package reads it).
	AuditWitness string

	// SandboxFaults plays Intune's bad days in the sandbox (DEPPORTAL_SANDBOX_FAULTS).
	SandboxFaults string

	// Watch is the read-only poller of the Apple connectors (DEPPORTAL_WATCH_*; watch.go).
	Watch Watch

	// publicURLFromListener: no DEPPORTAL_PUBLIC_URL in sandbox mode, so the public URL is
	// localhost on the port actually bound (see WithListener).
	publicURLFromListener bool
}

// WithListener returns the configuration of a portal listening on addr. In sandbox mode
// without DEPPORTAL_PUBLIC_URL the public URL takes the port actually bound, which is only
// known once listening (port 0 in tests).
func (c Config) WithListener(addr net.Addr) Config {
	tcp, ok := addr.(*net.TCPAddr)
	if !c.publicURLFromListener || !ok {
		return c
	}
	c.PublicURL = &url.URL{Scheme: "http", Host: "localhost:" + strconv.Itoa(tcp.Port)}
	return c
}

// Issuer is the OpenID issuer the ID tokens must name exactly. For Entra ID it is the tenant's
// v2.0 endpoint; the sandbox mirrors that shape under its own path. The tenant ID is
// lower-cased: Entra writes it so, and go-oidc compares the issuer byte for byte.
func (c Config) Issuer() string {
	return strings.TrimRight(c.AuthorityHost, "/") + "/" + strings.ToLower(c.TenantID) + "/v2.0"
}

// authorityAliases map an authority host that still answers to the one Entra names as issuer.
// China's old login.chinacloudapi.cn serves a discovery document whose issuer is
// login.partner.microsoftonline.cn: go-oidc would refuse it under the old name.
var authorityAliases = map[string]string{
	"login.chinacloudapi.cn": "login.partner.microsoftonline.cn",
}

// RedirectURL is the registered OIDC redirect URI.
func (c Config) RedirectURL() string { return c.publicURL("/auth/callback") }

// PostLogoutRedirectURL is where the provider sends people after signing out.
func (c Config) PostLogoutRedirectURL() string { return c.publicURL("/signed-out") }

func (c Config) publicURL(path string) string {
	return strings.TrimRight(c.PublicURL.String(), "/") + path
}

// SecureCookies reports whether cookies must be Secure (and may use the __Host- prefix).
func (c Config) SecureCookies() bool { return c.PublicURL.Scheme == "https" }

// GraphScope is the delegated permission the portal asks for, on the Graph host of the
// configured cloud (graph.microsoft.com, graph.microsoft.us, microsoftgraph.chinacloudapi.cn…).
func (c Config) GraphScope() string {
	u, err := url.Parse(c.GraphBaseURL)
	if err != nil || u.Host == "" || isLoopback(u.Hostname()) {
		// The sandbox simulator lives on localhost but stands for the public cloud's Graph.
		return "https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All"
	}
	return "https://" + u.Host + "/DeviceManagementServiceConfig.ReadWrite.All"
}

// Variable documents one environment variable for --help and the README.
type Variable struct {
	Name, Default, Meaning string
}

// Variables lists every variable the portal reads, in the order the README shows them.
var Variables = []Variable{
	{"DEPPORTAL_LISTEN", ":8080", "Address to listen on."},
	{"DEPPORTAL_PUBLIC_URL", "http://localhost:<port> in sandbox", "URL people use to reach the portal; https required except for localhost. Required with ENTRA_*."},
	{"ENTRA_TENANT_ID", "(none: sandbox)", "Directory (tenant) ID, a GUID."},
	{"ENTRA_CLIENT_ID", "(none: sandbox)", "Application (client) ID of the app registration, a GUID."},
	{"ENTRA_CLIENT_SECRET", "(none: sandbox)", "Client secret of the app registration. Or use ENTRA_CLIENT_CERTIFICATE."},
	{"ENTRA_CLIENT_SECRET_EXPIRES", "(none)", "When the client secret expires, copied from the app registration (2027-03-01 or RFC 3339): the portal warns 30 days before and exports it as a metric."},
	{"ENTRA_CLIENT_CERTIFICATE", "(none)", "Instead of a secret: PEM certificate and RSA private key (the text, or a file path); the portal signs client assertions with it (PS256)."},
	{"ENTRA_AUTHORITY_HOST", "https://login.microsoftonline.com", "Sign-in authority; change for national clouds (https://login.microsoftonline.us, https://login.partner.microsoftonline.cn)."},
	{"GRAPH_BASE_URL", "https://graph.microsoft.com/beta", "Microsoft Graph beta endpoint; change for national clouds."},
	{"DEPPORTAL_GRAPH_TIMEOUT", "30s", "Deadline for one Graph call, retries included."},
	{"DEPPORTAL_DEP_TOKEN_ENCODING", "raw", "How the token file goes into uploadDepToken's depToken: raw (the file's text) or base64 (of the file). Graph does not document it."},
	{"DEPPORTAL_DATABASE_URL", "sqlite file ./data/depportal.db", "sqlite:PATH or postgres://… for sessions and the audit trail."},
	{"DEPPORTAL_SESSION_KEY", "generated into ./data/ in sandbox", "32 random bytes, base64 (openssl rand -base64 32). Required with ENTRA_*."},
	{"DEPPORTAL_AUDIT_SIGNING_KEY", "generated into ./data/ in sandbox", "Ed25519 key that signs audit checkpoints (depportal audit keygen). Required with ENTRA_*."},
	{"DEPPORTAL_AUDIT_WITNESS", "(none)", "Where each signed audit checkpoint is copied as it is made: file paths (one JSON line each) and/or https URLs (POSTed), comma-separated. Failures are logged and counted, never blocking."},
	{"DEPPORTAL_UPLOADER_ROLE", "DepToken.Upload", "App role that may renew tokens."},
	{"DEPPORTAL_AUDITOR_ROLE", "DepToken.Audit", "App role that may read the audit trail."},
	{"DEPPORTAL_SESSION_IDLE_TIMEOUT", "30m", "A session ends after this long without a request."},
	{"DEPPORTAL_SESSION_ABSOLUTE_TIMEOUT", "8h", "A session ends this long after sign-in, however busy."},
	{"DEPPORTAL_TRUSTED_PROXIES", "(none)", "Comma-separated CIDRs whose X-Forwarded-For is believed."},
	{"DEPPORTAL_METRICS_TOKEN", "(none)", "Bearer token that may read /metrics from any address."},
	{"DEPPORTAL_METRICS_NETWORKS", "127.0.0.0/8,::1/128", "Comma-separated CIDRs that may read /metrics without the token."},
	{"DEPPORTAL_DATA_DIR", "./data", "Folder for the SQLite database and sandbox keys."},
	{"DEPPORTAL_LOG_LEVEL", "info", "debug, info, warn or error."},
	{"DEPPORTAL_SANDBOX_FAULTS", "(none)", "Sandbox only: failures the simulated Intune plays, e.g. upload=504applied (see README)."},
	{"DEPPORTAL_WATCH_CLIENT_ID", "(none: no watch; the sandbox runs its own)", "Application (client) ID of the watch's own app registration (application permission DeviceManagementServiceConfig.Read.All only), same tenant. Turns the watch on."},
	{"DEPPORTAL_WATCH_CLIENT_SECRET", "(none)", "Client secret of the watch's app registration. Or use DEPPORTAL_WATCH_CLIENT_CERTIFICATE."},
	{"DEPPORTAL_WATCH_CLIENT_CERTIFICATE", "(none)", "Instead of a secret: PEM certificate and RSA private key of the watch's registration (the text, or a file path)."},
	{"DEPPORTAL_WATCH_INTERVAL", "6h", "How often the watch reads the ADE tokens, Apps and Books tokens and push certificate (and once at start); at least 1m, or 10s in the sandbox."},
	{"DEPPORTAL_REMINDER_DAYS", "30,14,7,3,1", "Days before expiry at which the watch sends a reminder (then daily once expired), once per threshold per expiry date."},
	{"DEPPORTAL_REMINDER_TEAMS_URL", "(none)", "A Microsoft Teams Workflows webhook URL (\"When a Teams webhook request is received\"): reminders as Adaptive Cards."},
	{"DEPPORTAL_REMINDER_WEBHOOK_URL", "(none)", "A URL that receives reminders as JSON, signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature)."},
	{"DEPPORTAL_REMINDER_WEBHOOK_SECRET", "(none)", "The webhook's signing secret, whsec_ then base64 of 24 to 64 random bytes."},
	{"DEPPORTAL_REMINDER_SMTP_ADDR", "(none)", "SMTP server host:port for e-mailed reminders (STARTTLS required), e.g. smtp.office365.com:587."},
	{"DEPPORTAL_REMINDER_SMTP_USERNAME", "(none)", "SMTP user name (with the password: SMTP AUTH)."},
	{"DEPPORTAL_REMINDER_SMTP_PASSWORD", "(none)", "SMTP password."},
	{"DEPPORTAL_REMINDER_EMAIL_FROM", "(none)", "Sender address of e-mailed reminders."},
	{"DEPPORTAL_REMINDER_EMAIL_TO", "(none)", "Recipients of e-mailed reminders, comma-separated."},
}

// tenantVars decide the mode: setting any of them means "use a real tenant".
var tenantVars = []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET", "ENTRA_CLIENT_CERTIFICATE"}

// Load reads the configuration. getenv is os.Getenv in production and a map in tests.
func Load(getenv func(string) string) (Config, error) {
	get := func(name string) string { return strings.TrimSpace(getenv(name)) }
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	c := Config{
		Listen:        orDefault(get("DEPPORTAL_LISTEN"), ":8080"),
		DataDir:       orDefault(get("DEPPORTAL_DATA_DIR"), "data"),
		AuthorityHost: strings.TrimRight(orDefault(get("ENTRA_AUTHORITY_HOST"), "https://login.microsoftonline.com"), "/"),
		GraphBaseURL:  strings.TrimRight(orDefault(get("GRAPH_BASE_URL"), "https://graph.microsoft.com/beta"), "/"),
		UploaderRole:  orDefault(get("DEPPORTAL_UPLOADER_ROLE"), "DepToken.Upload"),
		AuditorRole:   orDefault(get("DEPPORTAL_AUDITOR_ROLE"), "DepToken.Audit"),
		TenantID:      strings.ToLower(get("ENTRA_TENANT_ID")),
		ClientID:      get("ENTRA_CLIENT_ID"),
		ClientSecret:  get("ENTRA_CLIENT_SECRET"),
	}
	c.Mode = ModeSandbox
	for _, name := range tenantVars {
		if get(name) != "" {
			c.Mode = ModeTenant
		}
	}

	port, err := listenPort(c.Listen)
	if err != nil {
		bad("DEPPORTAL_LISTEN: %v", err)
	}

	if c.Mode == ModeTenant {
		for _, name := range []string{"ENTRA_TENANT_ID", "ENTRA_CLIENT_ID"} {
			if get(name) == "" {
				bad("%s is missing (the other ENTRA_* variables are set, so a real tenant is meant)", name)
			}
		}
		certRaw := getenv("ENTRA_CLIENT_CERTIFICATE")
		switch {
		case c.ClientSecret == "" && strings.TrimSpace(certRaw) == "":
			bad("ENTRA_CLIENT_SECRET is missing (or set ENTRA_CLIENT_CERTIFICATE to use a certificate instead)")
		case c.ClientSecret != "" && strings.TrimSpace(certRaw) != "":
			bad("set ENTRA_CLIENT_SECRET or ENTRA_CLIENT_CERTIFICATE, not both")
		case strings.TrimSpace(certRaw) != "":
			pemData, err := clientCertificate(certRaw)
			if err != nil {
				bad("ENTRA_CLIENT_CERTIFICATE: %v", err)
			}
			c.ClientCertificatePEM = pemData
		}
		if c.TenantID != "" && !entra.IsGUID(c.TenantID) {
			bad("ENTRA_TENANT_ID must be the directory (tenant) ID, a GUID like 72f988bf-86f1-41af-91ab-2d7cd011db47; a domain name is not accepted")
		}
		if c.ClientID != "" && !entra.IsGUID(c.ClientID) {
			bad("ENTRA_CLIENT_ID must be the application (client) ID, a GUID")
		}
		if get("DEPPORTAL_PUBLIC_URL") == "" {
			bad("DEPPORTAL_PUBLIC_URL is missing (the https address people use, e.g. https://depportal.contoso.com)")
		}
		if get("DEPPORTAL_SESSION_KEY") == "" {
			bad("DEPPORTAL_SESSION_KEY is missing (32 random bytes, base64: openssl rand -base64 32)")
		}
		if get("DEPPORTAL_AUDIT_SIGNING_KEY") == "" {
			bad("DEPPORTAL_AUDIT_SIGNING_KEY is missing (make one with: depportal audit keygen)")
		}
		if u, err := parseHTTPURL(c.AuthorityHost, false); err != nil {
			bad("ENTRA_AUTHORITY_HOST: %v", err)
		} else {
			u.Host = strings.ToLower(u.Host)
			if canonical, ok := authorityAliases[u.Host]; ok {
				u.Host = canonical
			}
			c.AuthorityHost = strings.TrimRight(u.String(), "/")
		}
	}

	if _, err := parseHTTPURL(c.GraphBaseURL, true); err != nil {
		bad("GRAPH_BASE_URL: %v", err)
	}

	if raw := get("DEPPORTAL_PUBLIC_URL"); raw != "" {
		u, err := parseHTTPURL(raw, true)
		switch {
		case err != nil:
			bad("DEPPORTAL_PUBLIC_URL: %v", err)
		case u.Path != "" && u.Path != "/":
			bad("DEPPORTAL_PUBLIC_URL must not have a path (serve the portal at the root of its host): %q", raw)
		default:
			u.Path = ""
			c.PublicURL = u
		}
	} else if c.Mode == ModeSandbox && port != "" {
		c.PublicURL = &url.URL{Scheme: "http", Host: "localhost:" + port}
		c.publicURLFromListener = true
	}
	if raw := get("ENTRA_CLIENT_SECRET_EXPIRES"); raw != "" {
		switch t, err := parseExpiry(raw); {
		case err != nil:
			bad("ENTRA_CLIENT_SECRET_EXPIRES must be a date such as 2027-03-01 (or RFC 3339), as the app registration's Certificates & secrets shows it, not %q", raw)
		case len(c.ClientCertificatePEM) > 0:
			bad("ENTRA_CLIENT_SECRET_EXPIRES is for a client secret; with ENTRA_CLIENT_CERTIFICATE the certificate's own expiry is used")
		default:
			c.ClientSecretExpires = t
		}
	}
	c.SandboxFaults = get("DEPPORTAL_SANDBOX_FAULTS")
	c.AuditWitness = get("DEPPORTAL_AUDIT_WITNESS")

	if raw := get("DEPPORTAL_SESSION_KEY"); raw != "" {
		key, err := DecodeKey(raw)
		if err != nil {
			bad("DEPPORTAL_SESSION_KEY: %v", err)
		}
		c.SessionKey = key
	}

	c.AuditSigningKey = get("DEPPORTAL_AUDIT_SIGNING_KEY")

	c.DatabaseURL = get("DEPPORTAL_DATABASE_URL")
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "depportal.db")
	} else if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		bad("DEPPORTAL_DATABASE_URL must start with sqlite: or postgres://")
	}

	c.SessionIdleTimeout = duration(get("DEPPORTAL_SESSION_IDLE_TIMEOUT"), 30*time.Minute, "DEPPORTAL_SESSION_IDLE_TIMEOUT", bad)
	c.SessionAbsoluteTimeout = duration(get("DEPPORTAL_SESSION_ABSOLUTE_TIMEOUT"), 8*time.Hour, "DEPPORTAL_SESSION_ABSOLUTE_TIMEOUT", bad)
	if c.SessionIdleTimeout > c.SessionAbsoluteTimeout {
		bad("DEPPORTAL_SESSION_IDLE_TIMEOUT (%s) must not exceed DEPPORTAL_SESSION_ABSOLUTE_TIMEOUT (%s)", c.SessionIdleTimeout, c.SessionAbsoluteTimeout)
	}

	c.TrustedProxies = prefixes(get("DEPPORTAL_TRUSTED_PROXIES"), "DEPPORTAL_TRUSTED_PROXIES", bad)

	c.GraphTimeout = duration(get("DEPPORTAL_GRAPH_TIMEOUT"), 30*time.Second, "DEPPORTAL_GRAPH_TIMEOUT", bad)
	c.DepTokenEncoding = orDefault(get("DEPPORTAL_DEP_TOKEN_ENCODING"), "raw")
	if c.DepTokenEncoding != "raw" && c.DepTokenEncoding != "base64" {
		bad("DEPPORTAL_DEP_TOKEN_ENCODING must be raw or base64, not %q", c.DepTokenEncoding)
	}

	c.MetricsToken = get("DEPPORTAL_METRICS_TOKEN")
	if c.MetricsToken != "" && len(c.MetricsToken) < 16 {
		bad("DEPPORTAL_METRICS_TOKEN must be at least 16 characters (openssl rand -hex 16)")
	}
	c.MetricsNetworks = prefixes(orDefault(get("DEPPORTAL_METRICS_NETWORKS"), "127.0.0.0/8,::1/128"), "DEPPORTAL_METRICS_NETWORKS", bad)

	if raw := get("DEPPORTAL_LOG_LEVEL"); raw != "" {
		if err := c.LogLevel.UnmarshalText([]byte(raw)); err != nil {
			bad("DEPPORTAL_LOG_LEVEL must be debug, info, warn or error, not %q", raw)
		}
	}

	loadWatch(&c, get, getenv, bad)

	if len(problems) > 0 {
		return Config{}, &Error{Problems: problems}
	}
	return c, nil
}

// Error lists every configuration problem found.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "configuration is not usable:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// DecodeKey decodes a base64 (standard or URL, padded or not) 32-byte key.
func DecodeKey(raw string) ([]byte, error) {
	raw = strings.TrimSpace(raw)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(raw); err == nil {
			if len(key) != 32 {
				return nil, fmt.Errorf("must decode to 32 bytes, got %d (make one with: openssl rand -base64 32)", len(key))
			}
			return key, nil
		}
	}
	return nil, errors.New("is not base64 (make one with: openssl rand -base64 32)")
}

// clientCertificate reads the PEM text itself, or the file it names, and checks it holds a
// certificate with its RSA private key.
func clientCertificate(raw string) ([]byte, error) {
	data := []byte(raw)
	if !strings.Contains(raw, "-----BEGIN") {
		b, err := os.ReadFile(strings.TrimSpace(raw))
		if err != nil {
			return nil, fmt.Errorf("neither PEM text nor a readable file: %v", err)
		}
		data = b
	}
	pair, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, fmt.Errorf("want a PEM certificate and its private key: %v", err)
	}
	if _, ok := pair.PrivateKey.(*rsa.PrivateKey); !ok {
		return nil, errors.New("the private key must be RSA")
	}
	return data, nil
}

// parseExpiry reads a date (midnight UTC) or an RFC 3339 time.
func parseExpiry(raw string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, raw); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	return t.UTC(), err
}

// prefixes parses a comma-separated CIDR list.
func prefixes(raw, name string, bad func(string, ...any)) []netip.Prefix {
	var out []netip.Prefix
	if raw == "" {
		return out
	}
	for _, part := range strings.Split(raw, ",") {
		p, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			bad("%s: %q is not a CIDR such as 10.0.0.0/8", name, strings.TrimSpace(part))
			continue
		}
		out = append(out, p.Masked())
	}
	return out
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func duration(raw string, def time.Duration, name string, bad func(string, ...any)) time.Duration {
	if raw == "" {
		return def
	}
	d, err := time.ParseDuration(raw)
	if err != nil || d <= 0 {
		bad("%s must be a positive duration such as 30m or 8h, not %q", name, raw)
		return def
	}
	return d
}

func listenPort(listen string) (string, error) {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port (e.g. :8080)", listen)
	}
	return port, nil
}

// parseHTTPURL accepts https anywhere and http only for loopback hosts (a laptop, a test).
func parseHTTPURL(raw string, allowLoopbackHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q must not carry credentials, a query or a fragment", raw)
	}
	if u.Scheme == "http" && !(allowLoopbackHTTP && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("%q must use https (http is accepted only for localhost)", raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
