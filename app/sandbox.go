//go:build !nosandbox

package app

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/sandbox"
	"github.com/depportal/depportal/secret"
)

// HasSandbox reports whether this build carries the embedded demo tenant.
const HasSandbox = true

// sandboxTenant is the embedded tenant of a sandbox build (nil in tenant mode).
type sandboxTenant struct {
	tenant  *sandbox.Tenant
	wrapped http.Handler        // what the portal serves under /_sandbox/: the tenant, maybe wrapped
	smtp    *sandbox.OutboxSMTP // the outbox's mail server, when the watch sends e-mail there
}

func (s sandboxTenant) handler() http.Handler {
	if s.tenant == nil {
		return nil
	}
	return s.wrapped
}

// Tenant is the embedded demo tenant, for tests; nil in tenant mode.
func (a *App) Tenant() *sandbox.Tenant { return a.sandbox.tenant }

// resolveSandbox starts the embedded tenant and returns the configuration that points at it:
// its provider, its Graph simulator, and keys kept under the data folder so that sessions,
// checkpoints and downloaded sample tokens stay valid across restarts. cfg is not changed.
func resolveSandbox(cfg config.Config, opts SandboxOptions, logger *slog.Logger) (config.Config, sandboxTenant, error) {
	// The sandbox's OpenID provider logs through slog's default: its records reach this app's
	// log (sandbox_logs.go).
	routeSandboxLogs(logger)
	if cfg.SessionKey == nil {
		key, err := loadOrCreateKey(filepath.Join(cfg.DataDir, "session.key"))
		if err != nil {
			return cfg, sandboxTenant{}, err
		}
		cfg.SessionKey = key
	}
	if cfg.AuditSigningKey == "" {
		key, _, err := audit.LoadOrCreateKey(filepath.Join(cfg.DataDir, AuditKeyFile), "depportal-sandbox/audit")
		if err != nil {
			return cfg, sandboxTenant{}, fmt.Errorf("sandbox audit key: %w", err)
		}
		cfg.AuditSigningKey = key
	}
	cfg.TenantID = sandbox.TenantID
	cfg.ClientID = sandbox.ClientID
	cfg.ClientSecret = secret.RandomToken() // both ends live in this process
	tenant, err := sandbox.NewTenant(sandbox.TenantConfig{
		BaseURL:             cfg.PublicURL.String(),
		DataDir:             cfg.DataDir,
		ClientSecret:        cfg.ClientSecret,
		DepTokenEncoding:    cfg.DepTokenEncoding,
		Faults:              cfg.SandboxFaults,
		AccessTokenLifetime: opts.AccessTokenLifetime,
		ClientSecretExpires: cfg.ClientSecretExpires,
		// Two settings a page, so the portal's paging runs in the sandbox too.
		PageSize: 2,
		Logger:   logger,
	})
	if err != nil {
		return cfg, sandboxTenant{}, err
	}
	cfg.AuthorityHost = tenant.AuthorityHost()
	cfg.GraphBaseURL = tenant.GraphBaseURL()
	if tenant.IdP.Issuer() != cfg.Issuer() {
		return cfg, sandboxTenant{}, fmt.Errorf("sandbox issuer %s does not match the configured %s", tenant.IdP.Issuer(), cfg.Issuer())
	}
	sb := sandboxTenant{tenant: tenant, wrapped: withSandboxLogs(tenant, logger)}
	if opts.Watch {
		if cfg, sb.smtp, err = sandboxWatch(cfg, tenant); err != nil {
			return cfg, sandboxTenant{}, err
		}
	}
	if opts.Wrap != nil {
		sb.wrapped = opts.Wrap(sb.wrapped)
	}
	return cfg, sb, nil
}

// loadOrCreateKey keeps the sandbox's session key across restarts, so sessions survive them.
func loadOrCreateKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err == nil {
		return config.DecodeKey(string(raw))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("save sandbox session key: %w", err)
	}
	return key, nil
}

// emailTLS trusts the sandbox's own mail server, when it runs.
func (s sandboxTenant) emailTLS() *tls.Config {
	if s.smtp == nil {
		return nil
	}
	return s.smtp.TLS
}

// close stops what the sandbox started beside the portal's port (its mail server).
func (s sandboxTenant) close() {
	if s.smtp != nil {
		s.smtp.Close()
	}
}

// sandboxWatch turns the watch on in the sandbox with no configuration: the sandbox
// provider's registration for it (client credentials, the read-only application role), and,
// unless reminder channels are configured, the sandbox's outbox for all three channels, so
// that the real channel code runs: Teams and webhook receivers on the portal's port, and a
// mail server on loopback requiring STARTTLS and AUTH.
func sandboxWatch(cfg config.Config, t *sandbox.Tenant) (config.Config, *sandbox.OutboxSMTP, error) {
	clientSecret := secret.RandomToken()
	t.IdP.RegisterWatchClient(clientSecret, "DeviceManagementServiceConfig.Read.All")
	reminders := cfg.Watch.Reminders
	cfg.Watch = config.Watch{ClientID: sandbox.WatchClientID, ClientSecret: clientSecret, TokenURL: t.IdP.TokenURL(),
		Interval: cfg.Watch.Interval, Reminders: reminders}
	if reminders.Any() {
		return cfg, nil, nil
	}
	smtp, err := t.Outbox.StartSMTP()
	if err != nil {
		return cfg, nil, err
	}
	base := cfg.PublicURL.String()
	r := &cfg.Watch.Reminders
	r.TeamsURL = base + "/_sandbox/outbox/teams"
	r.WebhookURL, r.WebhookSecret = base+"/_sandbox/outbox/webhook", sandbox.WatchWebhookSecret
	r.SMTPAddr, r.SMTPUsername, r.SMTPPassword = smtp.Addr, smtp.Username, smtp.Password
	r.EmailFrom, r.EmailTo = "depportal-watch@contoso-sandbox.example", []string{"intune-admins@contoso-sandbox.example"}
	return cfg, smtp, nil
}
