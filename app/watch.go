package app

import (
	"crypto/tls"
	"fmt"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/watch"
)

// buildWatch makes the watch when it is configured: its own application credential, the same
// Graph client as the pages (the same retries and error handling), the database, and the
// reminder channels.
func (a *App) buildWatch(opts Options, intune *graph.Client) error {
	wc := a.cfg.Watch
	if !wc.Enabled() {
		if wc.Reminders.Any() {
			a.logger.Warn("reminder channels are configured but the watch is off (DEPPORTAL_WATCH_CLIENT_ID): no reminders will be sent")
		}
		return nil
	}
	var cert *auth.ClientCertificate
	if len(wc.ClientCertificatePEM) > 0 {
		var err error
		if cert, err = auth.ParseClientCertificate(wc.ClientCertificatePEM); err != nil {
			return fmt.Errorf("DEPPORTAL_WATCH_CLIENT_CERTIFICATE: %w", err)
		}
	}
	cred, err := watch.NewClientCredentials(watch.CredentialConfig{
		TokenURL:     a.cfg.WatchTokenURL(),
		ClientID:     wc.ClientID,
		ClientSecret: wc.ClientSecret,
		Certificate:  cert,
		Scope:        a.cfg.WatchScope(),
		HTTPClient:   opts.SignInHTTPClient,
		Now:          opts.Now,
	})
	if err != nil {
		return err
	}
	a.watch, err = watch.New(watch.Config{
		Intune:      intune,
		Credentials: cred,
		Store:       a.db,
		Metrics:     a.metrics,
		Logger:      a.logger.With("component", "watch"),
		Interval:    wc.Interval,
		Now:         opts.Now,
		Reminders: &watch.Reminders{
			Channels:  Channels(a.cfg, a.sandbox.emailTLS()),
			Days:      wc.Reminders.Days,
			Store:     a.db,
			Audit:     a.trail,
			PortalURL: a.cfg.PublicURL.String(),
			TenantID:  a.cfg.TenantID,
		},
	})
	return err
}

// Channels are the reminder channels cfg configures. emailTLS, when set, is the TLS
// configuration for the SMTP server (the sandbox's own).
func Channels(cfg config.Config, emailTLS *tls.Config) []watch.Channel {
	r := cfg.Watch.Reminders
	var out []watch.Channel
	if r.TeamsURL != "" {
		out = append(out, &watch.Teams{URL: r.TeamsURL})
	}
	if r.SMTPAddr != "" {
		out = append(out, &watch.Email{Addr: r.SMTPAddr, Username: r.SMTPUsername, Password: r.SMTPPassword,
			From: r.EmailFrom, To: r.EmailTo, TLSConfig: emailTLS})
	}
	if r.WebhookURL != "" {
		out = append(out, &watch.Webhook{URL: r.WebhookURL, Secret: r.WebhookSecret})
	}
	return out
}
