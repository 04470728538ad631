package auth

import (
	"net/http"
	"time"
)

// Transport returns a RoundTripper that signs a fresh client assertion for clientID into every
// POST to tokenURL (and drops any client secret), passing everything else to base untouched.
// It serves clients other than the sign-in that authenticate with a certificate, such as the
// watch's client-credentials grant: x/oauth2's clientcredentials takes only static parameters,
// and an assertion must not outlive its five minutes.
func (c *ClientCertificate) Transport(base http.RoundTripper, clientID, tokenURL string, now func() time.Time) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if now == nil {
		now = time.Now
	}
	return &assertionTransport{base: base, tokenURL: tokenURL, clientID: clientID, cert: c, now: now}
}
