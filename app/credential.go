package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
)

// credentialWarning is how long before its expiry the portal's client credential is warned
// about, in the log and on every signed-in person's pages.
const credentialWarning = 30 * 24 * time.Hour

// clientCredential is the portal's credential at Entra ID and when it stops working: the
// certificate's NotAfter, or the secret's expiry the operator copied from the app registration
// (Entra never tells a client). A zero At is not known.
type clientCredential struct {
	Kind string // "certificate" or "secret"
	At   time.Time
}

func credentialOf(cfg config.Config, cert *auth.ClientCertificate) clientCredential {
	if cert != nil {
		return clientCredential{Kind: "certificate", At: cert.NotAfter()}
	}
	return clientCredential{Kind: "secret", At: cfg.ClientSecretExpires}
}

// watchCredential logs, at start and then daily, when the client credential expires within
// credentialWarning (or has expired): a warning an operator's log alert can catch before
// every sign-in fails with AADSTS7000222.
func watchCredential(ctx context.Context, logger *slog.Logger, cred clientCredential, now func() time.Time, every time.Duration) {
	if cred.At.IsZero() {
		return
	}
	for {
		left := cred.At.Sub(now())
		switch {
		case left <= 0:
			logger.Error("the client "+cred.Kind+" has expired: nobody can sign in until a new one is in the app registration and the portal's configuration",
				"kind", cred.Kind, "expired_at", cred.At.UTC().Format(time.RFC3339))
		case left < credentialWarning:
			logger.Warn("the client "+cred.Kind+" expires soon: add a new one to the app registration and the portal's configuration",
				"kind", cred.Kind, "expires_at", cred.At.UTC().Format(time.RFC3339), "days_left", int(left.Hours()/24))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
