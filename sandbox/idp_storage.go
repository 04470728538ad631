package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	// The persona choice and the code exchange must both happen within this time of the
	// authorize request.
	authRequestLifetime = 10 * time.Minute
	// Entra's refresh token lifetime. They live in memory only, so a restart ends them sooner.
	refreshTokenLifetime = 90 * 24 * time.Hour
)

// graphScopes are the Graph permissions the portal may ask for. Entra names a delegated
// permission by the resource URI and the permission; the access token's scp carries the
// permission alone.
var graphScopes = []string{
	GraphAudience + "/DeviceManagementServiceConfig.ReadWrite.All",
	GraphAudience + "/DeviceManagementServiceConfig.Read.All",
}

var (
	errUnknownAuthRequest  = errors.New("unknown or expired sign-in request")
	errUnknownRefreshToken = errors.New("unknown, used or expired refresh token")
	errWrongClientSecret   = errors.New("wrong client ID or secret")
	errClientSecretExpired = errors.New("the client secret has expired")
)

// browserSessionLifetime bounds how long the provider remembers a browser's sign-in; Entra's
// own session cookie lives until sign-out or the browser closes.
const browserSessionLifetime = 24 * time.Hour

// idpStorage is the op.Storage for the sandbox provider: one client, four personas, and
// in-memory auth requests and tokens. Nothing but the signing key outlives the process.
type idpStorage struct {
	client              *portalClient
	clientSecret        string
	key                 *signingKey
	accessTokenLifetime time.Duration
	secretExpires       time.Time // zero: the secret does not expire
	logger              *slog.Logger
	now                 func() time.Time // tests move it to expire requests

	mu              sync.Mutex
	authRequests    map[string]*authRequest       // by ID
	codes           map[string]string             // authorization code → auth request ID
	accessTokens    map[string]accessTokenRecord  // by token ID (jti)
	refreshTokens   map[string]refreshTokenRecord // by token value
	browserSessions map[string]*browserSession    // by the value of the provider's cookie
}

// browserSession is the provider's own sign-in in one browser, as Entra keeps one: its sid
// goes into every ID token issued through it, and signing out of it calls the front-channel
// logout URL of every client it signed in to.
type browserSession struct {
	sid        string
	personaKey string
	clients    map[string]bool
	createdAt  time.Time
}

type accessTokenRecord struct {
	personaKey string
	clientID   string
	expiresAt  time.Time
}

type refreshTokenRecord struct {
	personaKey string
	clientID   string
	scopes     []string
	authTime   time.Time
	expiresAt  time.Time
	sid        string   // the browser session it was issued in
	acrs       []string // authentication contexts satisfied at sign-in
}

func newIDPStorage(client *portalClient, clientSecret string, key *signingKey, accessTokenLifetime time.Duration, logger *slog.Logger) *idpStorage {
	return &idpStorage{
		client:              client,
		clientSecret:        clientSecret,
		key:                 key,
		accessTokenLifetime: accessTokenLifetime,
		logger:              logger,
		now:                 time.Now,
		authRequests:        make(map[string]*authRequest),
		codes:               make(map[string]string),
		accessTokens:        make(map[string]accessTokenRecord),
		refreshTokens:       make(map[string]refreshTokenRecord),
		browserSessions:     make(map[string]*browserSession),
	}
}

// grant is what this storage hands zitadel for a token request: an auth request once a persona
// was picked, or the request behind a refresh token.
type grant interface {
	op.IDTokenRequest
	persona() (Persona, bool)
	// grantedScopes are the scopes the sign-in granted; a rotated refresh token keeps all of
	// them even when one refresh asked for fewer.
	grantedScopes() []string
	// satisfiedContexts are the Conditional Access authentication contexts (acrs) the sign-in
	// satisfied: they stay with the refresh tokens it leads to.
	satisfiedContexts() []string
	// forAudience returns a copy whose GetAudience is [aud], so that the token endpoint can
	// give the ID token and the access token different audiences.
	forAudience(aud string) grant
	// sessionID is the sid of the browser session the grant came from.
	sessionID() string
	// accessClaims are what this token request asked for in the access token (claims=).
	accessClaims() claimsRequest
}

// CreateAuthRequest stores a validated authorize request. PKCE with S256 is demanded here
// because zitadel lets a confidential client go without it and would accept plain; refusing
// with an oidc.Error makes zitadel send invalid_request back to the (already validated)
// redirect_uri.
func (s *idpStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if req.CodeChallenge == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge is required (PKCE with S256)")
	}
	if req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	now := s.now()
	a := &authRequest{
		id:            uuid.NewString(),
		createdAt:     now,
		clientID:      req.ClientID,
		redirectURI:   req.RedirectURI,
		responseType:  req.ResponseType,
		responseMode:  req.ResponseMode,
		state:         req.State,
		nonce:         req.Nonce,
		scopes:        slices.Clone(req.Scopes),
		codeChallenge: oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod},
		claims:        claimsRequestFrom(ctx),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeExpiredLocked(now)
	s.authRequests[a.id] = a
	return a.snapshot(), nil
}

func (s *idpStorage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.liveAuthRequestLocked(id)
	if !ok {
		return nil, errUnknownAuthRequest
	}
	return a.snapshot(), nil
}

// completeSignIn records the persona picked on the persona page, and the browser session it
// was picked in (sid). It may be changed (browser back) until a code has been issued.
func (s *idpStorage) completeSignIn(id, personaKey, sid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.liveAuthRequestLocked(id)
	if !ok || a.code != "" {
		return errUnknownAuthRequest
	}
	a.personaKey = personaKey
	a.authTime = s.now()
	a.sid = sid
	return nil
}

// refuseSignIn takes the auth request out for a refusal sent back to the client: it cannot
// be completed afterwards.
func (s *idpStorage) refuseSignIn(id string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.liveAuthRequestLocked(id)
	if !ok || a.code != "" {
		return nil, errUnknownAuthRequest
	}
	delete(s.authRequests, id)
	return a.snapshot(), nil
}

// signInBrowser returns the browser session for a persona chosen in the browser holding
// cookie: the same one when that browser is signed in as the persona already (Entra's single
// sign-on), a new one otherwise. It returns the cookie value to set and the session's sid.
func (s *idpStorage) signInBrowser(cookie, personaKey, clientID string) (string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	b, ok := s.browserSessions[cookie]
	if !ok || b.personaKey != personaKey || !now.Before(b.createdAt.Add(browserSessionLifetime)) {
		delete(s.browserSessions, cookie)
		cookie = rand.Text()
		b = &browserSession{sid: uuid.NewString(), personaKey: personaKey, clients: map[string]bool{}, createdAt: now}
		s.browserSessions[cookie] = b
	}
	b.clients[clientID] = true
	return cookie, b.sid
}

// browserSessionOf is the browser session the cookie names, if it is live.
func (s *idpStorage) browserSessionOf(cookie string) (browserSession, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.browserSessions[cookie]
	if !ok || !s.now().Before(b.createdAt.Add(browserSessionLifetime)) {
		return browserSession{}, false
	}
	c := *b
	c.clients = maps.Clone(b.clients)
	return c, true
}

// endBrowserSession forgets the browser session. Like Entra, it does not revoke the refresh
// tokens issued through it.
func (s *idpStorage) endBrowserSession(cookie string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.browserSessions, cookie)
}

// AuthRequestByCode consumes the code: the first exchange takes it, whether it then succeeds or
// not, so that two concurrent exchanges cannot both be answered.
func (s *idpStorage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.codes[code]
	if !ok {
		return nil, errors.New("unknown or used authorization code")
	}
	delete(s.codes, code)
	a, ok := s.liveAuthRequestLocked(id)
	if !ok {
		return nil, errUnknownAuthRequest
	}
	return a.snapshot(), nil
}

func (s *idpStorage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.liveAuthRequestLocked(id)
	if !ok {
		return errUnknownAuthRequest
	}
	// One live code per request: reloading the callback replaces the code rather than adding one.
	delete(s.codes, a.code)
	a.code = code
	s.codes[code] = id
	return nil
}

func (s *idpStorage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a, ok := s.authRequests[id]; ok {
		delete(s.codes, a.code)
		delete(s.authRequests, id)
	}
	return nil
}

func (s *idpStorage) CreateAccessToken(_ context.Context, request op.TokenRequest) (string, time.Time, error) {
	g, p, err := grantPersona(request)
	if err != nil {
		return "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, expiresAt := s.addAccessTokenLocked(p, g.GetClientID())
	return id, expiresAt, nil
}

// CreateAccessAndRefreshTokens rotates strictly: the refresh token presented stops working the
// moment a new one is issued, unlike Entra, where the old one lives on. A relying party that
// forgets to store the rotated token then fails in the sandbox instead of weeks later.
func (s *idpStorage) CreateAccessAndRefreshTokens(_ context.Context, request op.TokenRequest, currentRefreshToken string) (string, string, time.Time, error) {
	g, p, err := grantPersona(request)
	if err != nil {
		return "", "", time.Time{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if currentRefreshToken != "" {
		// Looked up once already, but a concurrent refresh with the same token may have won.
		if _, ok := s.refreshTokens[currentRefreshToken]; !ok {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithParent(errUnknownRefreshToken)
		}
		delete(s.refreshTokens, currentRefreshToken)
	}
	accessID, expiresAt := s.addAccessTokenLocked(p, g.GetClientID())
	refreshToken := rand.Text()
	s.refreshTokens[refreshToken] = refreshTokenRecord{
		personaKey: p.Key,
		clientID:   g.GetClientID(),
		scopes:     slices.Clone(g.grantedScopes()),
		authTime:   g.GetAuthTime(),
		expiresAt:  s.now().Add(refreshTokenLifetime),
		sid:        g.sessionID(),
		acrs:       slices.Clone(g.satisfiedContexts()),
	}
	return accessID, refreshToken, expiresAt, nil
}

func (s *idpStorage) addAccessTokenLocked(p Persona, clientID string) (string, time.Time) {
	now := s.now()
	s.removeExpiredLocked(now)
	id := uuid.NewString()
	expiresAt := now.Add(s.accessTokenLifetime)
	s.accessTokens[id] = accessTokenRecord{personaKey: p.Key, clientID: clientID, expiresAt: expiresAt}
	return id, expiresAt
}

func (s *idpStorage) TokenRequestByRefreshToken(_ context.Context, refreshToken string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.refreshTokens[refreshToken]
	if !ok || !s.now().Before(rec.expiresAt) {
		s.logger.Warn("sandbox idp: refused a refresh token that is unknown, used or expired; a relying party must store the rotated refresh token after every refresh")
		return nil, errUnknownRefreshToken
	}
	return &refreshRequest{
		personaKey: rec.personaKey,
		clientID:   rec.clientID,
		granted:    slices.Clone(rec.scopes),
		scopes:     slices.Clone(rec.scopes),
		authTime:   rec.authTime,
		sid:        rec.sid,
		acrs:       slices.Clone(rec.acrs),
	}, nil
}

// TerminateSession is zitadel's; the sandbox's end_session (serveEndSession) ends browser
// sessions itself and never calls it.
func (s *idpStorage) TerminateSession(context.Context, string, string) error {
	return nil
}

func (s *idpStorage) RevokeToken(_ context.Context, tokenOrTokenID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.refreshTokens[tokenOrTokenID]; ok && rec.clientID == clientID {
		delete(s.refreshTokens, tokenOrTokenID)
	}
	if rec, ok := s.accessTokens[tokenOrTokenID]; ok && rec.clientID == clientID {
		delete(s.accessTokens, tokenOrTokenID)
	}
	return nil
}

func (s *idpStorage) GetRefreshTokenInfo(_ context.Context, clientID, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.refreshTokens[token]
	if !ok || rec.clientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	p, _ := personaByKey(rec.personaKey)
	return p.subject(), token, nil
}

func (s *idpStorage) SigningKey(context.Context) (op.SigningKey, error) {
	return s.key, nil
}

func (s *idpStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *idpStorage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{s.key.verificationKey()}, nil
}

func (s *idpStorage) GetClientByClientID(_ context.Context, clientID string) (op.Client, error) {
	if clientID != s.client.GetID() {
		return nil, errors.New("unknown client")
	}
	return s.client, nil
}

func (s *idpStorage) AuthorizeClientIDSecret(_ context.Context, clientID, clientSecret string) error {
	idOK := subtle.ConstantTimeCompare([]byte(clientID), []byte(s.client.GetID()))
	secretOK := subtle.ConstantTimeCompare([]byte(clientSecret), []byte(s.clientSecret))
	if idOK&secretOK != 1 {
		return errWrongClientSecret
	}
	if !s.secretExpires.IsZero() && !s.now().Before(s.secretExpires) {
		return errClientSecretExpired
	}
	return nil
}

// SetUserinfoFromScopes is deprecated in zitadel; SetUserinfoFromRequest does the work.
func (s *idpStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token as Entra's v2.0 one: every profile claim whatever
// the scopes (the portal always asks for openid and profile), ver, Entra's opaque aio, uti and
// rh, the idp of a guest, and the optional claims the registration asks for (sid, login_hint,
// acct) and no others.
func (s *idpStorage) SetUserinfoFromRequest(_ context.Context, userinfo *oidc.UserInfo, request op.IDTokenRequest, _ []string) error {
	g, p, err := grantPersona(request)
	if err != nil {
		return err
	}
	setUserinfo(userinfo, p)
	reg := s.client.registration
	userinfo.AppendClaims("ver", "2.0")
	userinfo.AppendClaims("aio", opaque(48))
	userinfo.AppendClaims("uti", opaque(16))
	userinfo.AppendClaims("rh", "0.A"+opaque(40))
	if p.Guest() {
		userinfo.AppendClaims("idp", p.homeIssuer())
	}
	if sid := g.sessionID(); sid != "" && reg.optionalClaim("sid") {
		userinfo.AppendClaims("sid", sid)
	}
	if reg.optionalClaim("login_hint") {
		userinfo.AppendClaims("login_hint", p.loginHint())
	}
	if reg.optionalClaim("acct") {
		acct := 0
		if p.Guest() {
			acct = 1
		}
		userinfo.AppendClaims("acct", acct)
	}
	return nil
}

// opaque is a random value of n characters from Entra's alphabet for opaque claims: nothing
// may read meaning into it.
func opaque(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

func (s *idpStorage) SetUserinfoFromToken(_ context.Context, userinfo *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	rec, ok := s.accessTokens[tokenID]
	live := ok && s.now().Before(rec.expiresAt)
	s.mu.Unlock()
	if !live {
		return errors.New("unknown or expired access token")
	}
	p, ok := personaByKey(rec.personaKey)
	if !ok {
		return errors.New("unknown persona")
	}
	setUserinfo(userinfo, p)
	return nil
}

// setUserinfo leaves roles out for a persona without any, as Entra does.
func setUserinfo(userinfo *oidc.UserInfo, p Persona) {
	userinfo.Subject = p.subject()
	userinfo.Name = p.Name
	userinfo.PreferredUsername = p.Username
	userinfo.AppendClaims("tid", p.TenantID)
	userinfo.AppendClaims("oid", p.ObjectID)
	if len(p.Roles) > 0 {
		userinfo.AppendClaims("roles", slices.Clone(p.Roles))
	}
}

func (s *idpStorage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return errors.New("the sandbox does not offer token introspection")
}

// GetPrivateClaimsFromScopes is not called: zitadel prefers GetPrivateClaimsFromRequest.
func (s *idpStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, errors.New("sandbox idp: private claims need the token request")
}

// GetPrivateClaimsFromRequest fills the access token with what the Graph simulator needs: whom
// it is for (tid, oid, name, upn) and which Graph permissions it carries (scp).
func (s *idpStorage) GetPrivateClaimsFromRequest(_ context.Context, request op.TokenRequest, scopes []string) (map[string]any, error) {
	_, p, err := grantPersona(request)
	if err != nil {
		return nil, err
	}
	g, _, _ := grantPersona(request)
	claims := map[string]any{
		"tid":  p.TenantID,
		"oid":  p.ObjectID,
		"name": p.Name,
		"upn":  p.accessUPN(),
		"ver":  "1.0", // Graph's tokens are v1.0 tokens whatever endpoint issued them
		"aio":  opaque(48),
		"uti":  opaque(16),
	}
	if p.Guest() {
		claims["idp"] = p.homeIssuer()
	}
	if scp := graphPermissions(scopes); scp != "" {
		claims["scp"] = scp
	}
	// Client capabilities are echoed only to a client that declared them in this request:
	// Graph then knows it may answer with a claims challenge (continuous access evaluation).
	if c := g.accessClaims(); slices.Contains(c.capabilities, "cp1") {
		claims["xms_cc"] = []string{"cp1"}
	}
	if acrs := g.satisfiedContexts(); len(acrs) > 0 {
		claims["acrs"] = slices.Clone(acrs)
	}
	return claims, nil
}

// graphPermissions turns the requested Graph scopes into the scp claim: permission names
// without the resource URI, space-separated.
func graphPermissions(scopes []string) string {
	var permissions []string
	for _, scope := range scopes {
		if permission, ok := strings.CutPrefix(scope, GraphAudience+"/"); ok {
			permissions = append(permissions, permission)
		}
	}
	return strings.Join(permissions, " ")
}

func (s *idpStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("the sandbox client does not sign with its own keys")
}

func (s *idpStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the sandbox does not offer the JWT profile grant")
}

func (s *idpStorage) Health(context.Context) error {
	return nil
}

func (s *idpStorage) liveAuthRequestLocked(id string) (*authRequest, bool) {
	a, ok := s.authRequests[id]
	if !ok || !s.now().Before(a.createdAt.Add(authRequestLifetime)) {
		return nil, false
	}
	return a, true
}

// removeExpiredLocked is the only clean-up: it runs whenever something new is stored, which
// bounds memory by the traffic of the last token lifetime.
func (s *idpStorage) removeExpiredLocked(now time.Time) {
	for id, a := range s.authRequests {
		if !now.Before(a.createdAt.Add(authRequestLifetime)) {
			delete(s.codes, a.code)
			delete(s.authRequests, id)
		}
	}
	for id, rec := range s.accessTokens {
		if !now.Before(rec.expiresAt) {
			delete(s.accessTokens, id)
		}
	}
	for token, rec := range s.refreshTokens {
		if !now.Before(rec.expiresAt) {
			delete(s.refreshTokens, token)
		}
	}
	for cookie, b := range s.browserSessions {
		if !now.Before(b.createdAt.Add(browserSessionLifetime)) {
			delete(s.browserSessions, cookie)
		}
	}
}

func grantPersona(request op.TokenRequest) (grant, Persona, error) {
	g, ok := request.(grant)
	if !ok {
		return nil, Persona{}, fmt.Errorf("sandbox idp: unsupported token request %T", request)
	}
	p, ok := g.persona()
	if !ok {
		return nil, Persona{}, errors.New("sandbox idp: token request without a signed-in persona")
	}
	return g, p, nil
}

// authRequest is one authorize request, from the authorize endpoint to the code exchange.
type authRequest struct {
	id            string
	createdAt     time.Time
	clientID      string
	redirectURI   string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	state         string
	nonce         string
	scopes        []string
	codeChallenge oidc.CodeChallenge
	personaKey    string    // empty until somebody picks a persona
	authTime      time.Time // when the persona was picked
	code          string    // the code issued for it, if any
	audience      []string  // set only on the copies made by forAudience
	sid           string    // the browser session the persona was picked in
	claims        claimsRequest
}

// snapshot hands zitadel a copy, so that a persona picked while it holds the request cannot
// race with its reads.
func (a *authRequest) snapshot() *authRequest {
	c := *a
	return &c
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return nil }
func (a *authRequest) GetAudience() []string                 { return a.audience }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return &a.codeChallenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) Done() bool                            { return a.personaKey != "" }
func (a *authRequest) grantedScopes() []string               { return a.scopes }
func (a *authRequest) sessionID() string                     { return a.sid }
func (a *authRequest) accessClaims() claimsRequest           { return a.claims }

// satisfiedContexts: the persona completes any authentication context asked for (the sandbox
// has no second factor to ask for), so a sign-in that asked for one carries it.
func (a *authRequest) satisfiedContexts() []string { return a.claims.acrs }

func (a *authRequest) GetSubject() string {
	p, ok := a.persona()
	if !ok {
		return ""
	}
	return p.subject()
}

func (a *authRequest) persona() (Persona, bool) { return personaByKey(a.personaKey) }

func (a *authRequest) forAudience(aud string) grant {
	c := a.snapshot()
	c.audience = []string{aud}
	return c
}

// refreshRequest is the request behind a refresh token, as zitadel's refresh grant needs it.
type refreshRequest struct {
	personaKey string
	clientID   string
	granted    []string
	scopes     []string // narrowed by SetCurrentScopes when the refresh asks for fewer
	authTime   time.Time
	audience   []string
	sid        string
	acrs       []string
	claims     claimsRequest // what this refresh asked for (claims=), set by the token endpoint
}

func (r *refreshRequest) GetAMR() []string                 { return nil }
func (r *refreshRequest) GetAudience() []string            { return r.audience }
func (r *refreshRequest) GetAuthTime() time.Time           { return r.authTime }
func (r *refreshRequest) GetClientID() string              { return r.clientID }
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }
func (r *refreshRequest) grantedScopes() []string          { return r.granted }
func (r *refreshRequest) persona() (Persona, bool)         { return personaByKey(r.personaKey) }
func (r *refreshRequest) sessionID() string                { return r.sid }
func (r *refreshRequest) accessClaims() claimsRequest      { return r.claims }
func (r *refreshRequest) satisfiedContexts() []string      { return r.acrs }

func (r *refreshRequest) GetSubject() string {
	p, ok := r.persona()
	if !ok {
		return ""
	}
	return p.subject()
}

func (r *refreshRequest) forAudience(aud string) grant {
	c := *r
	c.audience = []string{aud}
	return &c
}

// portalClient is the portal's registration in the sandbox tenant: a confidential web client.
type portalClient struct {
	registration    Registration
	loginURL        string
	idTokenLifetime time.Duration
}

func (c *portalClient) GetID() string          { return ClientID }
func (c *portalClient) RedirectURIs() []string { return slices.Clone(c.registration.RedirectURIs) }

// PostLogoutRedirectURIs are the redirect URIs themselves: Entra has no separate list.
func (c *portalClient) PostLogoutRedirectURIs() []string {
	return slices.Clone(c.registration.RedirectURIs)
}
func (c *portalClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }

// AuthMethod is basic; zitadel also takes the secret from the form (client_secret_post)
// because the provider is configured with AuthMethodPost.
func (c *portalClient) AuthMethod() oidc.AuthMethod { return oidc.AuthMethodBasic }
func (c *portalClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *portalClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *portalClient) LoginURL(authRequestID string) string {
	return c.loginURL + "?authRequestID=" + url.QueryEscape(authRequestID)
}
func (c *portalClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c *portalClient) IDTokenLifetime() time.Duration      { return c.idTokenLifetime }
func (c *portalClient) DevMode() bool                       { return false }
func (c *portalClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}
func (c *portalClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

// IsScopeAllowed admits the Graph permissions; zitadel drops any other scope it does not know.
func (c *portalClient) IsScopeAllowed(scope string) bool { return slices.Contains(graphScopes, scope) }

// IDTokenUserinfoClaimsAssertion puts name, preferred_username, roles, tid and oid in the ID
// token itself, as Entra does, rather than only behind the userinfo endpoint.
func (c *portalClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *portalClient) ClockSkew() time.Duration             { return 0 }
