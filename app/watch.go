package app

import (
	"fmt"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/watch"
)

// buildWatch makes the watch when it is configured: its own application credential, the same
// Graph client as the pages (the same retries and error handling), and the database.
func (a *App) buildWatch(opts Options, intune *graph.Client) error {
	wc := a.cfg.Watch
	if !wc.Enabled() {
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
	})
	return err
}
