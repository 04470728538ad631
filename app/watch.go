package app

import (
	"context"
	"crypto/tls"
	"errors"
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
	cred, err := watchCredentials(a.cfg, opts)
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

// watchCredentials is the watch's own application credential.
func watchCredentials(cfg config.Config, opts Options) (*watch.ClientCredentials, error) {
	wc := cfg.Watch
	var cert *auth.ClientCertificate
	if len(wc.ClientCertificatePEM) > 0 {
		var err error
		if cert, err = auth.ParseClientCertificate(wc.ClientCertificatePEM); err != nil {
			return nil, fmt.Errorf("DEPPORTAL_WATCH_CLIENT_CERTIFICATE: %w", err)
		}
	}
	return watch.NewClientCredentials(watch.CredentialConfig{
		TokenURL:     cfg.WatchTokenURL(),
		ClientID:     wc.ClientID,
		ClientSecret: wc.ClientSecret,
		Certificate:  cert,
		Scope:        cfg.WatchScope(),
		HTTPClient:   opts.SignInHTTPClient,
		Now:          opts.Now,
	})
}

// ReadConnectors reads the Apple connectors once with the watch's credential, without
// starting the portal (depportal watch once).
func ReadConnectors(ctx context.Context, cfg config.Config, version string) ([]watch.Connector, error) {
	if !cfg.Watch.Enabled() {
		return nil, errors.New("the watch is not configured: set DEPPORTAL_WATCH_CLIENT_ID and DEPPORTAL_WATCH_CLIENT_SECRET (or _CERTIFICATE) with the ENTRA_* variables")
	}
	cred, err := watchCredentials(cfg, Options{})
	if err != nil {
		return nil, err
	}
	intune, err := graph.New(graph.Config{BaseURL: cfg.GraphBaseURL, Timeout: cfg.GraphTimeout, Version: version})
	if err != nil {
		return nil, fmt.Errorf("GRAPH_BASE_URL: %w", err)
	}
	return watch.Read(ctx, intune, cred)
}
