//go:build !nosandbox

package app

import (
	"crypto/tls"

	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/sandbox"
	"github.com/depportal/depportal/secret"
)

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
