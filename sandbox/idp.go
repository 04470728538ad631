// Package sandbox is depportal's demo tenant: what the portal needs from Microsoft, simulated
// in-process so that the whole flow can be tried on a laptop with no tenant configured. The
// OpenID Provider (idp*.go) lets anyone sign in as one of its personas; it is built on
// zitadel's op package, not a hand-rolled token minter, and behaves like Entra ID where the
// portal can tell (docs/decisions/0001 lists where it still does not).
//
// It must never be reachable in tenant mode: only main, in sandbox mode, and tests wire it in,
// and production packages never import it. It signs tokens for whoever clicks a button, so
// nothing it issues may be trusted outside the sandbox. It keeps nothing on disk but its
// signing key.
package sandbox

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	TenantID      = "7f3c9a2e-5b14-4d8e-9c61-2a0f4e8b1d37" // the sandbox tenant
	OtherTenantID = "c0ffee00-1d2e-4f3a-8b5c-6d7e8f9a0b1c" // Eve Elsewhere's tenant
	ClientID      = "5e1f6a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b" // the portal's client ID in the sandbox
	GraphAudience = "https://graph.microsoft.com"          // aud of every access token
)

const (
	idpPathPrefix = "/_sandbox/idp/"
	loginPath     = idpPathPrefix + "login"
)

// IdPConfig is what the sandbox OpenID Provider needs from the portal.
type IdPConfig struct {
	BaseURL             string        // the portal's public URL, e.g. "http://localhost:8080"
	DataDir             string        // holds the signing key, sandbox-idp-key.pem
	ClientSecret        string        // the portal's client secret (basic or post)
	AccessTokenLifetime time.Duration // of access and ID tokens; 1h when zero
	// ClientSecretExpires, when set, is when ClientSecret stops working: the token endpoint
	// then refuses it with AADSTS7000222, as Entra does an expired secret.
	ClientSecretExpires time.Time
	Logger              *slog.Logger // nil discards
	// FrontChannelClient calls the front-channel logout URL; a 5-second client when nil.
	FrontChannelClient *http.Client
}

// IdP is the sandbox tenant's OpenID Provider, standing in for
// https://login.microsoftonline.com/{tenant}/v2.0.
type IdP struct {
	baseURL      string
	issuer       string
	registration Registration
	key          *signingKey
	storage      *idpStorage
	provider     *op.Provider
	handler      http.Handler
	logger       *slog.Logger
	frontChannel *http.Client
}

// NewIdP loads the signing key from cfg.DataDir, creating it on first run.
func NewIdP(cfg IdPConfig) (*IdP, error) {
	baseURL, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.ClientSecret == "" {
		return nil, errors.New("sandbox idp: ClientSecret is empty")
	}
	if cfg.DataDir == "" {
		return nil, errors.New("sandbox idp: DataDir is empty")
	}
	lifetime := cfg.AccessTokenLifetime
	if lifetime == 0 {
		lifetime = time.Hour
	}
	if lifetime < 0 {
		return nil, fmt.Errorf("sandbox idp: AccessTokenLifetime %v is negative", lifetime)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	key, created, err := loadOrCreateSigningKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Info("sandbox idp: created signing key", "kid", key.id, "dir", cfg.DataDir)
	} else {
		logger.Info("sandbox idp: loaded signing key", "kid", key.id, "dir", cfg.DataDir)
	}

	p := &IdP{
		baseURL:      baseURL,
		issuer:       baseURL + idpPathPrefix + TenantID + "/v2.0",
		registration: newRegistration(baseURL),
		key:          key,
		logger:       logger,
		frontChannel: cfg.FrontChannelClient,
	}
	if p.frontChannel == nil {
		p.frontChannel = &http.Client{Timeout: 5 * time.Second}
	}
	client := &portalClient{
		registration:    p.registration,
		loginURL:        baseURL + loginPath,
		idTokenLifetime: lifetime,
	}
	p.storage = newIDPStorage(client, cfg.ClientSecret, key, lifetime, logger)
	p.storage.secretExpires = cfg.ClientSecretExpires

	config := &op.Config{
		// Not used: end_session is served by serveEndSession, which never redirects to a URI
		// the registration does not list.
		DefaultLogoutRedirectURI: p.PostLogoutRedirectURI(),
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes: append([]string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeOfflineAccess},
			graphScopes...),
		SupportedClaims: []string{
			"iss", "sub", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "c_hash",
			"name", "preferred_username", "tid", "oid", "roles",
		},
	}
	// zitadel encrypts with this key only its own opaque values (it wraps the auth request ID
	// in the code); a fresh one per process is enough since codes live in memory anyway.
	if _, err := rand.Read(config.CryptoKey[:]); err != nil {
		return nil, fmt.Errorf("sandbox idp: %w", err)
	}
	var options []op.Option
	if strings.HasPrefix(baseURL, "http://") {
		options = append(options, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(config, p.storage, op.StaticIssuer(p.issuer), options...)
	if err != nil {
		return nil, fmt.Errorf("sandbox idp: %w", err)
	}
	p.provider = provider

	issuerPath := idpPathPrefix + TenantID + "/v2.0"
	intercept := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	mux := http.NewServeMux()
	mux.HandleFunc(loginPath, p.serveLogin)
	mux.Handle(issuerPath+provider.TokenEndpoint().Relative(), intercept.HandlerFunc(p.serveToken))
	mux.Handle(issuerPath+provider.EndSessionEndpoint().Relative(), intercept.HandlerFunc(p.serveEndSession))
	mux.Handle(issuerPath+"/.well-known/openid-configuration", intercept.HandlerFunc(p.serveDiscovery))
	// The authorize request's claims parameter is read before zitadel sees the request (it
	// does not know the parameter); zitadel still validates everything else.
	mux.Handle(issuerPath+provider.AuthorizationEndpoint().Relative(),
		p.readClaimsRequest(http.StripPrefix(issuerPath, provider)))
	mux.Handle(issuerPath+"/", http.StripPrefix(issuerPath, provider))
	p.handler = mux
	return p, nil
}

// parseBaseURL accepts an origin only: the provider is mounted at /_sandbox/idp/ of the host
// root, so a base path would give an issuer nobody serves.
func parseBaseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("sandbox idp: BaseURL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("sandbox idp: BaseURL %q is not an http(s) URL", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("sandbox idp: BaseURL %q must be scheme and host only", raw)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Issuer mirrors Entra's https://login.microsoftonline.com/{tenant}/v2.0 under the portal.
func (p *IdP) Issuer() string { return p.issuer }

// ServeHTTP serves everything under /_sandbox/idp/: the persona page at /_sandbox/idp/login and
// the OpenID Provider under the issuer path. Mount it at that prefix without stripping it.
func (p *IdP) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// PublicKeys is the provider's JWKS (public keys only), for in-process verifiers such as the
// Graph simulator: parse the token with jose.ParseSigned(token, []jose.SignatureAlgorithm{
// jose.RS256}), pick the key by the header's kid (keys := idp.PublicKeys(); keys.Key(kid)) and
// Verify with it. A verifier of access tokens must then check iss (Issuer), aud
// (GraphAudience), exp, tid and scp itself. It is one key today; a kid that is not found means
// the token is not from this sandbox (or from before its key file was replaced).
func (p *IdP) PublicKeys() jose.JSONWebKeySet { return p.key.jwks() }

// RedirectURI is the portal's sign-in redirect URI.
func (p *IdP) RedirectURI() string { return p.baseURL + CallbackPath }

// PostLogoutRedirectURI is where the portal asks to come back to after signing out: one of the
// registration's redirect URIs, as Entra requires.
func (p *IdP) PostLogoutRedirectURI() string { return p.baseURL + SignedOutPath }

// FrontChannelLogoutURI is the registration's front-channel logout URL.
func (p *IdP) FrontChannelLogoutURI() string { return p.registration.FrontChannelLogoutURL }
