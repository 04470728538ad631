package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// credentialMetrics tell operators when the portal's own credential at Entra ID stops working:
// after that nobody can sign in (AADSTS7000222), and Entra never warns the client.
type credentialMetrics struct {
	credentialExpiry *prometheus.GaugeVec
}

func newCredentialMetrics(r *prometheus.Registry) *credentialMetrics {
	c := &credentialMetrics{
		credentialExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "depportal_client_credential_expiry_timestamp_seconds",
			Help: "When the portal's client credential at Entra ID expires (Unix seconds), by kind: certificate (its NotAfter) or secret (ENTRA_CLIENT_SECRET_EXPIRES). Absent when not known.",
		}, []string{"kind"}),
	}
	r.MustRegister(c.credentialExpiry)
	return c
}

// ClientCredentialExpires records when the client credential of kind ("certificate",
// "secret") expires.
func (c *credentialMetrics) ClientCredentialExpires(kind string, at time.Time) {
	c.credentialExpiry.WithLabelValues(kind).Set(float64(at.Unix()))
}
