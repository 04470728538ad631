package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/depportal/depportal/entra"
	"github.com/depportal/depportal/secret"
)

// SignInConfig describes the relying party.
type SignInConfig struct {
	Issuer                string // exact iss, e.g. https://login.microsoftonline.com/{tid}/v2.0
	TenantID              string // the only tid accepted
	ClientID              string
	ClientSecret          string
	RedirectURL           string
	PostLogoutRedirectURL string
	GraphScope            string // e.g. https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All
	// ClientCertificate, when set, replaces ClientSecret: the portal proves itself with a
	// signed client assertion.
	ClientCertificate *ClientCertificate
	HTTPClient        *http.Client
	Now               func() time.Time
}

// LoginTTL is how long a person has between leaving for the provider and coming back.
const LoginTTL = 10 * time.Minute

// clockSkew tolerates small differences between the provider's clock and ours.
const clockSkew = 5 * time.Minute

// SignIn is the OpenID Connect relying party: authorization code flow with PKCE (S256), state
// and nonce, for Entra ID and the sandbox alike.
type SignIn struct {
	cfg    SignInConfig
	store  Store
	sealer *secret.Sealer

	mu       sync.Mutex
	provider *discovered // nil until discovery succeeded
}

type discovered struct {
	tokenClient *http.Client // talks to the token endpoint (adds client assertions if needed)
	oauth2      oauth2.Config
	verifier    *oidc.IDTokenVerifier
	keys        oidc.KeySet // the verifier's, to tell a bad signature from other refusals
	endSession  string
	jwksURL     string
}

// NewSignIn builds the relying party. Discovery happens later (Discover), so the portal can
// start while the provider is unreachable and say so on /readyz instead of crashing.
func NewSignIn(cfg SignInConfig, store Store, sessionKey []byte) (*SignIn, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	sealer, err := secret.NewSealer(sessionKey, "login")
	if err != nil {
		return nil, err
	}
	return &SignIn{cfg: cfg, store: store, sealer: sealer}, nil
}

// Discover loads the provider's discovery document and keys, once.
func (s *SignIn) Discover(ctx context.Context) error {
	_, err := s.discovered(ctx)
	return err
}

// Ready reports whether discovery has succeeded.
func (s *SignIn) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.provider != nil
}

func (s *SignIn) discovered(ctx context.Context) (*discovered, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.provider != nil {
		return s.provider, nil
	}
	ctx = oidc.ClientContext(ctx, s.cfg.HTTPClient)
	p, err := oidc.NewProvider(ctx, s.cfg.Issuer)
	if err != nil {
		return nil, &SignInError{Reason: ReasonUnavailable, Detail: err.Error()}
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
		JWKS       string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil {
		return nil, &SignInError{Reason: ReasonUnavailable, Detail: err.Error()}
	}
	endpoint := p.Endpoint()
	// One style, no auto-detection: x/oauth2 would retry a failed exchange in the other style
	// with an already spent code and hide the first error. Entra ID accepts the secret in the body.
	endpoint.AuthStyle = oauth2.AuthStyleInParams
	secret, tokenClient := s.cfg.ClientSecret, s.cfg.HTTPClient
	if s.cfg.ClientCertificate != nil {
		// The token endpoint is only known now; the assertion goes to it alone.
		base := tokenClient.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		c := *tokenClient
		c.Transport = &assertionTransport{base: base, tokenURL: endpoint.TokenURL, clientID: s.cfg.ClientID, cert: s.cfg.ClientCertificate, now: s.cfg.Now}
		secret, tokenClient = "", &c
	}
	// NewProvider has checked that the discovered issuer is exactly cfg.Issuer.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), s.cfg.HTTPClient), meta.JWKS)
	s.provider = &discovered{
		tokenClient: tokenClient,
		oauth2: oauth2.Config{
			ClientID:     s.cfg.ClientID,
			ClientSecret: secret,
			Endpoint:     endpoint,
			RedirectURL:  s.cfg.RedirectURL,
			Scopes:       []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess, s.cfg.GraphScope},
		},
		// RS256 only: Entra ID signs with it, and an allowlist keeps "none" and HMAC
		// confusion out whatever a token's header claims.
		verifier: oidc.NewVerifier(s.cfg.Issuer, keys, &oidc.Config{
			ClientID:             s.cfg.ClientID,
			SupportedSigningAlgs: []string{oidc.RS256},
			Now:                  s.cfg.Now,
		}),
		keys:       keys,
		endSession: meta.EndSession,
		jwksURL:    meta.JWKS,
	}
	return s.provider, nil
}

// loginState is what the server remembers of a sign-in in progress.
type loginState struct {
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	ReturnTo string `json:"r"`
}

// Begin starts a sign-in for the browser identified by binding (the value of its login cookie)
// and returns the provider URL to redirect to.
func (s *SignIn) Begin(ctx context.Context, binding, returnTo string) (string, error) {
	return s.BeginWithClaims(ctx, binding, returnTo, "")
}

// BeginWithClaims is Begin answering a claims challenge: challenge is the claims="…" value of
// Graph's WWW-Authenticate (base64 of a JSON claims request), asked for again with the
// portal's client capability. A malformed challenge is ErrClaimsChallenge and starts nothing.
func (s *SignIn) BeginWithClaims(ctx context.Context, binding, returnTo, challenge string) (string, error) {
	claims, err := claimsRequest(challenge)
	if err != nil {
		return "", err
	}
	p, err := s.discovered(ctx)
	if err != nil {
		return "", err
	}
	state := secret.RandomToken()
	st := loginState{Nonce: secret.RandomToken(), Verifier: oauth2.GenerateVerifier(), ReturnTo: SafeReturnTo(returnTo)}
	plain, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	stateHash := hashHex(state)
	rec := LoginRecord{
		StateHash:   stateHash,
		BindingHash: hashHex(binding),
		Sealed:      s.sealer.Seal(plain, []byte(stateHash)),
		ExpiresAt:   s.cfg.Now().Add(LoginTTL),
	}
	if err := s.store.PutLogin(ctx, rec); err != nil {
		return "", fmt.Errorf("save sign-in transaction: %w", err)
	}
	return p.oauth2.AuthCodeURL(state, oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce),
		oauth2.SetAuthURLParam("claims", claims)), nil
}

// Completed is the outcome of a successful callback.
type Completed struct {
	Identity Identity
	Token    *oauth2.Token // access and refresh token for Graph; never leaves the server
	ReturnTo string
}

// Complete handles the provider's redirect back: query is the callback's query string and
// binding the browser's login cookie. Every failure is a *SignInError with its own Reason.
func (s *SignIn) Complete(ctx context.Context, binding string, query url.Values) (Completed, error) {
	// The state and the browser binding are checked before anything else, the provider's own
	// refusal included: a refusal that does not belong to a sign-in this browser started is
	// anyone's forgery, worth a log line (rate limited) but never an audit record.
	state := query.Get("state")
	if state == "" {
		return Completed{}, &SignInError{Reason: ReasonStateMissing}
	}
	stateHash := hashHex(state)
	rec, err := s.store.TakeLogin(ctx, stateHash)
	if errors.Is(err, ErrNotFound) {
		return Completed{}, &SignInError{Reason: ReasonStateUnknown}
	}
	if err != nil {
		return Completed{}, fmt.Errorf("read sign-in transaction: %w", err)
	}
	if s.cfg.Now().After(rec.ExpiresAt) {
		return Completed{}, &SignInError{Reason: ReasonLoginExpired}
	}
	if binding == "" || subtle.ConstantTimeCompare([]byte(hashHex(binding)), []byte(rec.BindingHash)) != 1 {
		return Completed{}, &SignInError{Reason: ReasonStateMismatch}
	}
	if code := query.Get("error"); code != "" {
		// Only the error code and Entra's AADSTS number are kept: error_description is free
		// text anyone can write into the redirect.
		trace, correlation := supportIDs(query.Get("error_description"))
		return Completed{}, &SignInError{Reason: ReasonProvider, Transaction: true, Code: providerCode(code),
			AADSTS: aadstsNumber(query.Get("error_description")), Detail: providerCode(code),
			TraceID: trace, CorrelationID: correlation}
	}
	plain, err := s.sealer.Open(rec.Sealed, []byte(stateHash))
	if err != nil {
		return Completed{}, fmt.Errorf("open sign-in transaction: %w", err)
	}
	var st loginState
	if err := json.Unmarshal(plain, &st); err != nil {
		return Completed{}, fmt.Errorf("decode sign-in transaction: %w", err)
	}

	c, err := s.exchange(ctx, st, query.Get("code"))
	var refused *SignInError
	if errors.As(err, &refused) {
		refused.Transaction = true // this browser's own sign-in: an audit record is due
	}
	return c, err
}

// exchange redeems the code of a checked sign-in transaction and verifies the ID token.
func (s *SignIn) exchange(ctx context.Context, st loginState, code string) (Completed, error) {
	p, err := s.discovered(ctx)
	if err != nil {
		return Completed{}, err
	}
	if code == "" {
		return Completed{}, &SignInError{Reason: ReasonExchange, Detail: "the callback carried no code"}
	}
	tok, err := p.oauth2.Exchange(oidc.ClientContext(ctx, p.tokenClient), code, oauth2.VerifierOption(st.Verifier))
	if err != nil {
		return Completed{}, exchangeError(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return Completed{}, &SignInError{Reason: ReasonNoIDToken}
	}
	id, err := s.verifyIDToken(ctx, p, rawID, st.Nonce)
	if err != nil {
		return Completed{}, err
	}
	return Completed{Identity: id, Token: tok, ReturnTo: st.ReturnTo}, nil
}

// exchangeError names a refused code exchange. Entra's AADSTS number is kept (consent or
// Conditional Access can refuse here too), and invalid_client, the portal's own credential
// refused, is told apart: only operators can fix it.
func exchangeError(err error) *SignInError {
	e := &SignInError{Reason: ReasonExchange, Detail: describeOAuthError(err)}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		e.AADSTS = aadstsNumber(re.ErrorDescription)
		e.TraceID, e.CorrelationID = supportIDs(re.ErrorDescription)
		if re.ErrorCode != "" {
			e.Code = providerCode(re.ErrorCode)
		}
		if re.ErrorCode == "invalid_client" {
			e.Reason = ReasonClientCredential
		}
	}
	return e
}

// verifyIDToken lets go-oidc check signature (RS256 allowlist), iss, aud and exp, then checks
// what go-oidc leaves to the caller: nonce, iat, sub, azp and Entra's tid and oid.
func (s *SignIn) verifyIDToken(ctx context.Context, p *discovered, raw, nonce string) (Identity, error) {
	tok, err := p.verifier.Verify(oidc.ClientContext(ctx, s.cfg.HTTPClient), raw)
	if err != nil {
		return Identity{}, s.diagnose(ctx, p, raw, err)
	}
	var c struct {
		Identity
		AuthorizedParty string `json:"azp"`
		Account         *int   `json:"acct"` // optional claim: 1 for a guest
	}
	if err := tok.Claims(&c); err != nil {
		return Identity{}, &SignInError{Reason: ReasonClaims, Detail: err.Error()}
	}
	now := s.cfg.Now()
	switch {
	case tok.IssuedAt.IsZero() || tok.IssuedAt.After(now.Add(clockSkew)):
		return Identity{}, &SignInError{Reason: ReasonIssuedInFuture, Detail: fmt.Sprintf("iat %s, now %s", tok.IssuedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))}
	case tok.Subject == "":
		return Identity{}, &SignInError{Reason: ReasonSubject}
	case len(tok.Audience) > 1 && c.AuthorizedParty == "",
		c.AuthorizedParty != "" && c.AuthorizedParty != s.cfg.ClientID:
		return Identity{}, &SignInError{Reason: ReasonAuthorizedParty, Detail: "azp " + limit(c.AuthorizedParty, 64)}
	case nonce == "" || subtle.ConstantTimeCompare([]byte(tok.Nonce), []byte(nonce)) != 1:
		return Identity{}, &SignInError{Reason: ReasonNonce}
	case !strings.EqualFold(c.TenantID, s.cfg.TenantID):
		return Identity{}, &SignInError{Reason: ReasonTenant, Detail: "tid " + limit(c.TenantID, 64)}
	case !entra.IsGUID(c.ObjectID):
		return Identity{}, &SignInError{Reason: ReasonClaims, Detail: "the token carries no oid"}
	}
	id := c.Identity
	id.Subject = tok.Subject
	id.TenantID = strings.ToLower(id.TenantID)
	id.ObjectID = strings.ToLower(id.ObjectID)
	if id.Name == "" {
		id.Name = id.Username
	}
	// A B2B guest signs in with tid = this tenant; acct (an optional claim) or an idp that is
	// not this tenant tells them from members. Authorisation does not change: roles decide.
	id.Guest = (c.Account != nil && *c.Account == 1) ||
		(id.HomeIdP != "" && id.HomeIdP != s.cfg.Issuer && !strings.Contains(strings.ToLower(id.HomeIdP), id.TenantID))
	return id, nil
}

// diagnose turns go-oidc's rejection into a specific reason. The rejection itself is go-oidc's;
// this only reads the unverified token to tell the person (and the log) which check failed.
func (s *SignIn) diagnose(ctx context.Context, p *discovered, raw string, verr error) error {
	var expired *oidc.TokenExpiredError
	if errors.As(verr, &expired) {
		return &SignInError{Reason: ReasonExpired, Detail: "exp " + expired.Expiry.UTC().Format(time.RFC3339)}
	}
	header, claims, ok := splitJWT(raw)
	if !ok {
		return &SignInError{Reason: ReasonSignature, Detail: "malformed token"}
	}
	if header.Alg != oidc.RS256 {
		return &SignInError{Reason: ReasonAlgorithm, Detail: "alg " + limit(header.Alg, 16)}
	}
	// go-oidc says "bad signature" only in its error's text; checking the signature again
	// against the verifier's own keys says it without reading that text. The alg was checked
	// above, and this only picks the reason for a token already refused.
	if _, err := p.keys.VerifySignature(ctx, raw); err != nil {
		if header.Kid != "" && !s.providerHasKey(ctx, p, header.Kid) {
			return &SignInError{Reason: ReasonUnknownKey, Detail: "kid " + limit(header.Kid, 64)}
		}
		return &SignInError{Reason: ReasonSignature}
	}
	if claims.Issuer != s.cfg.Issuer {
		return &SignInError{Reason: ReasonIssuer, Detail: "iss " + limit(claims.Issuer, 200)}
	}
	var aud []string
	switch a := claims.Audience.(type) {
	case string:
		aud = []string{a}
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	for _, a := range aud {
		if a == s.cfg.ClientID {
			return &SignInError{Reason: ReasonSignature, Detail: limit(verr.Error(), 200)}
		}
	}
	return &SignInError{Reason: ReasonAudience, Detail: "aud " + limit(strings.Join(aud, ","), 200)}
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Issuer   string `json:"iss"`
	Audience any    `json:"aud"`
}

func splitJWT(raw string) (jwtHeader, jwtClaims, bool) {
	var h jwtHeader
	var c jwtClaims
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return h, c, false
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	if err1 != nil || err2 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return h, c, false
	}
	return h, c, true
}

func (s *SignIn) providerHasKey(ctx context.Context, p *discovered, kid string) bool {
	if p.jwksURL == "" {
		return true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.jwksURL, nil)
	if err != nil {
		return true
	}
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return true
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 1<<20)).Decode(&set) != nil {
		return true
	}
	for _, k := range set.Keys {
		if k.Kid == kid {
			return true
		}
	}
	return false
}

// Issuer is the provider's issuer, as ID tokens (and front-channel logout calls) name it.
func (s *SignIn) Issuer() string { return s.cfg.Issuer }

// EndSessionURL is where the browser goes to sign out at the provider, or "" if it has none.
// loginHint (the login_hint claim of the session's ID token) goes as logout_hint, so Entra
// signs that account out without asking which; post_logout_redirect_uri must be one of the
// app's registered redirect URIs, or Entra does not send the browser back.
func (s *SignIn) EndSessionURL(loginHint string) string {
	s.mu.Lock()
	p := s.provider
	s.mu.Unlock()
	if p == nil || p.endSession == "" {
		return ""
	}
	u, err := url.Parse(p.endSession)
	if err != nil {
		return ""
	}
	q := u.Query()
	q.Set("client_id", s.cfg.ClientID)
	q.Set("post_logout_redirect_uri", s.cfg.PostLogoutRedirectURL)
	if loginHint != "" {
		q.Set("logout_hint", loginHint)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// describeOAuthError keeps the provider's error code and description but never a body that
// might echo a token.
func describeOAuthError(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return limit(re.ErrorCode+": "+re.ErrorDescription, 300)
		}
		if re.Response != nil {
			return "token endpoint answered " + re.Response.Status
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "token endpoint unreachable: " + limit(ue.Err.Error(), 200)
	}
	return "token request failed"
}

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func limit(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
