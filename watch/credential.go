package watch

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/depportal/depportal/auth"
)

// CredentialConfig is the watch's own app registration.
type CredentialConfig struct {
	TokenURL     string // Entra's v2.0 token endpoint of the tenant (or the sandbox's)
	ClientID     string
	ClientSecret string
	// Certificate, when set, replaces ClientSecret: every token request carries a fresh
	// client assertion signed with it (auth's, PS256 with x5t#S256).
	Certificate *auth.ClientCertificate
	Scope       string       // https://graph.microsoft.com/.default, or the national cloud's
	HTTPClient  *http.Client // talks to the token endpoint; a 30 s client when nil
	Now         func() time.Time
}

// ClientCredentials is the watch's application token (OAuth 2.0 client credentials), from
// golang.org/x/oauth2/clientcredentials. It implements graph.Credentials; there is no refresh
// token in this grant, so Refresh asks for a new access token.
type ClientCredentials struct {
	cfg  clientcredentials.Config
	base context.Context // carries the HTTP client; token requests outlive any one caller

	mu  sync.Mutex
	src oauth2.TokenSource
}

// NewClientCredentials checks cfg and returns the credential; no request is made yet.
func NewClientCredentials(cfg CredentialConfig) (*ClientCredentials, error) {
	switch {
	case cfg.TokenURL == "":
		return nil, errors.New("watch credential: no token URL")
	case cfg.ClientID == "":
		return nil, errors.New("watch credential: no client ID")
	case cfg.ClientSecret == "" && cfg.Certificate == nil:
		return nil, errors.New("watch credential: neither a client secret nor a certificate")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cc := clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.TokenURL,
		Scopes:       []string{cfg.Scope},
		// Entra takes both; in the body, a certificate's assertion replaces the secret
		// field without an Authorization header to remove.
		AuthStyle: oauth2.AuthStyleInParams,
	}
	if cfg.Certificate != nil {
		c := *hc
		c.Transport = cfg.Certificate.Transport(hc.Transport, cfg.ClientID, cfg.TokenURL, cfg.Now)
		hc = &c
		cc.ClientSecret = ""
	}
	base := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	return &ClientCredentials{cfg: cc, base: base, src: cc.TokenSource(base)}, nil
}

// AccessToken returns a valid access token, asking for a new one when the last has expired.
func (c *ClientCredentials) AccessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	return token(ctx, src)
}

// Refresh drops the cached token and asks for a new one: Graph refused the last (revoked,
// or a permission granted since).
func (c *ClientCredentials) Refresh(ctx context.Context) (string, error) {
	c.mu.Lock()
	c.src = c.cfg.TokenSource(c.base)
	src := c.src
	c.mu.Unlock()
	return token(ctx, src)
}

// token runs src.Token (which takes no context) so that the caller's deadline still applies.
func token(ctx context.Context, src oauth2.TokenSource) (string, error) {
	type result struct {
		t   *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		t, err := src.Token()
		done <- result{t, err}
	}()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case r := <-done:
		if r.err != nil {
			return "", fmt.Errorf("watch credential: %w", r.err)
		}
		return r.t.AccessToken, nil
	}
}
