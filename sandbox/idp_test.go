package sandbox

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

const (
	testClientSecret = "sandbox-test-secret-7d1f"
	graphReadWrite   = GraphAudience + "/DeviceManagementServiceConfig.ReadWrite.All"
	graphRead        = GraphAudience + "/DeviceManagementServiceConfig.Read.All"
)

// portalScopes is what the portal asks for.
var portalScopes = []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess, graphReadWrite}

// testClock lets a test move the storage's clock while the server reads it.
type testClock struct{ offset atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// lockedBuffer collects log output written from server goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type sandboxServer struct {
	idp   *IdP
	url   string
	mux   *http.ServeMux // tests add the portal's front-channel logout route to it
	clock *testClock
	logs  *lockedBuffer
}

// MustStartIdP serves a new IdP on a test server whose URL is its BaseURL, with a fresh DataDir.
func MustStartIdP(tb testing.TB) *sandboxServer {
	tb.Helper()
	return MustStartIdPIn(tb, tb.TempDir())
}

func MustStartIdPIn(tb testing.TB, dataDir string) *sandboxServer {
	tb.Helper()
	// The IdP needs the server's URL before it exists, so it is mounted on the mux afterwards;
	// the mux's lock orders that before the first request.
	mux := http.NewServeMux()
	server := httptest.NewServer(mux)
	tb.Cleanup(server.Close)
	logs := new(lockedBuffer)
	idp, err := NewIdP(IdPConfig{
		BaseURL:      server.URL,
		DataDir:      dataDir,
		ClientSecret: testClientSecret,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		tb.Fatalf("NewIdP: %v", err)
	}
	clock := new(testClock)
	idp.storage.now = clock.now
	mux.Handle(idpPathPrefix, idp)
	return &sandboxServer{idp: idp, url: server.URL, mux: mux, clock: clock, logs: logs}
}

// relyingParty is the portal's side as auth/ will build it: go-oidc plus x/oauth2, and a
// browser that does not follow redirects so that each step can be checked.
type relyingParty struct {
	sandbox  *sandboxServer
	provider *oidc.Provider
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	browser  *http.Client
}

func MustNewRelyingParty(tb testing.TB, s *sandboxServer) *relyingParty {
	tb.Helper()
	provider, err := oidc.NewProvider(tb.Context(), s.idp.Issuer())
	if err != nil {
		tb.Fatalf("discovery: %v", err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		tb.Fatal(err)
	}
	endpoint := provider.Endpoint()
	// x/oauth2's auto-detection retries a failed exchange with the other style, and the retry
	// would meet a code the first attempt already used up.
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	return &relyingParty{
		sandbox:  s,
		provider: provider,
		oauth: oauth2.Config{
			ClientID:     ClientID,
			ClientSecret: testClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  s.idp.RedirectURI(),
			Scopes:       portalScopes,
		},
		verifier: provider.Verifier(&oidc.Config{ClientID: ClientID}),
		browser: &http.Client{
			Jar: jar,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

// authorization is one authorize request's secrets, as the portal keeps them in its session.
type authorization struct {
	state, nonce, verifier string
}

func newAuthorization() authorization {
	return authorization{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
}

func (rp *relyingParty) authCodeURL(a authorization, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(a.nonce), oauth2.S256ChallengeOption(a.verifier)}, extra...)
	return rp.oauth.AuthCodeURL(a.state, opts...)
}

// MustStartSignIn follows authorize to the persona page and returns the auth request ID.
func MustStartSignIn(tb testing.TB, rp *relyingParty, authURL string) string {
	tb.Helper()
	resp := MustGet(tb, rp.browser, authURL)
	loginURL := MustRedirect(tb, resp, http.StatusFound)
	if !strings.HasPrefix(loginURL, rp.sandbox.url+loginPath+"?") {
		tb.Fatalf("authorize redirected to %q, want the persona page", loginURL)
	}
	u, err := url.Parse(loginURL)
	if err != nil {
		tb.Fatal(err)
	}
	id := u.Query().Get("authRequestID")
	if id == "" {
		tb.Fatalf("persona page URL %q has no authRequestID", loginURL)
	}
	page := MustGet(tb, rp.browser, loginURL)
	if page.StatusCode != http.StatusOK {
		tb.Fatalf("persona page: status %d", page.StatusCode)
	}
	return id
}

// MustGetCode signs in as the persona and returns the code the portal's callback receives.
func MustGetCode(tb testing.TB, rp *relyingParty, a authorization, personaKey string, extra ...oauth2.AuthCodeOption) string {
	tb.Helper()
	id := MustStartSignIn(tb, rp, rp.authCodeURL(a, extra...))
	resp := MustPostForm(tb, rp.browser, rp.sandbox.url+loginPath, url.Values{"authRequestID": {id}, "persona": {personaKey}})
	callback := MustRedirect(tb, resp, http.StatusSeeOther)
	resp = MustGet(tb, rp.browser, callback)
	back, err := url.Parse(MustRedirect(tb, resp, http.StatusFound))
	if err != nil {
		tb.Fatal(err)
	}
	if got := back.Scheme + "://" + back.Host + back.Path; got != rp.sandbox.idp.RedirectURI() {
		tb.Fatalf("code sent to %q, want %q", got, rp.sandbox.idp.RedirectURI())
	}
	if e := back.Query().Get("error"); e != "" {
		tb.Fatalf("callback carries error %q: %s", e, back.Query().Get("error_description"))
	}
	if got := back.Query().Get("state"); got != a.state {
		tb.Fatalf("state = %q, want %q", got, a.state)
	}
	code := back.Query().Get("code")
	if code == "" {
		tb.Fatalf("callback %q has no code", back)
	}
	return code
}

type signIn struct {
	token      *oauth2.Token
	rawIDToken string
	idToken    *oidc.IDToken
}

// MustSignIn runs the whole code flow as the portal does and verifies the ID token and nonce.
func MustSignIn(tb testing.TB, rp *relyingParty, personaKey string) signIn {
	tb.Helper()
	a := newAuthorization()
	code := MustGetCode(tb, rp, a, personaKey)
	token, err := rp.oauth.Exchange(tb.Context(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		tb.Fatalf("code exchange: %v", err)
	}
	raw, idToken := MustVerifyIDToken(tb, rp, token)
	if idToken.Nonce != a.nonce {
		tb.Fatalf("nonce = %q, want %q", idToken.Nonce, a.nonce)
	}
	return signIn{token: token, rawIDToken: raw, idToken: idToken}
}

func MustVerifyIDToken(tb testing.TB, rp *relyingParty, token *oauth2.Token) (string, *oidc.IDToken) {
	tb.Helper()
	raw, ok := token.Extra("id_token").(string)
	if !ok || raw == "" {
		tb.Fatal("token response has no id_token")
	}
	idToken, err := rp.verifier.Verify(tb.Context(), raw)
	if err != nil {
		tb.Fatalf("go-oidc rejects the ID token: %v", err)
	}
	if err := idToken.VerifyAccessToken(token.AccessToken); err != nil {
		tb.Fatalf("at_hash: %v", err)
	}
	return raw, idToken
}

type idTokenClaims struct {
	AuthorizedParty   string   `json:"azp"`
	TenantID          string   `json:"tid"`
	ObjectID          string   `json:"oid"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Roles             []string `json:"roles"`
}

type accessTokenClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	Expiry    int64    `json:"exp"`
	Scope     string   `json:"scp"`
	TenantID  string   `json:"tid"`
	ObjectID  string   `json:"oid"`
	Name      string   `json:"name"`
	UPN       string   `json:"upn"`
	RawClaims map[string]json.RawMessage
}

// MustVerifyAccessToken checks the access token as the Graph simulator will: by kid against
// PublicKeys.
func MustVerifyAccessToken(tb testing.TB, idp *IdP, raw string) accessTokenClaims {
	tb.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		tb.Fatalf("access token is not an RS256 JWS: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	jwks := idp.PublicKeys()
	keys := jwks.Key(kid)
	if len(keys) != 1 {
		tb.Fatalf("PublicKeys has %d keys for kid %q, want 1", len(keys), kid)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		tb.Fatalf("access token signature: %v", err)
	}
	var claims accessTokenClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		tb.Fatalf("access token claims: %v", err)
	}
	if err := json.Unmarshal(payload, &claims.RawClaims); err != nil {
		tb.Fatal(err)
	}
	return claims
}

func MustGet(tb testing.TB, client *http.Client, rawURL string) *http.Response {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return MustDo(tb, client, req)
}

func MustPostForm(tb testing.TB, client *http.Client, rawURL string, form url.Values) *http.Response {
	tb.Helper()
	req, err := http.NewRequestWithContext(tb.Context(), http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return MustDo(tb, client, req)
}

// MustDo reads the whole body into the response so that callers need not close it.
func MustDo(tb testing.TB, client *http.Client, req *http.Request) *http.Response {
	tb.Helper()
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

func MustBody(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(body)
}

// MustRedirect checks the status and returns the absolute Location.
func MustRedirect(tb testing.TB, resp *http.Response, status int) string {
	tb.Helper()
	if resp.StatusCode != status {
		tb.Fatalf("%s %s: status %d, want %d; body: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, MustBody(tb, resp))
	}
	location, err := resp.Location()
	if err != nil {
		tb.Fatalf("%s %s: %v", resp.Request.Method, resp.Request.URL, err)
	}
	return location.String()
}

// MustOAuthError asserts that a token request failed with the given OAuth error code.
func MustOAuthError(tb testing.TB, err error, code string) {
	tb.Helper()
	var retrieve *oauth2.RetrieveError
	if !errors.As(err, &retrieve) {
		tb.Fatalf("error = %v, want an OAuth %q error", err, code)
	}
	if retrieve.ErrorCode != code {
		tb.Fatalf("OAuth error = %q (%s), want %q", retrieve.ErrorCode, retrieve.ErrorDescription, code)
	}
}

// MustAADSTS asserts that a token request failed with Entra's error body for AADSTS number n.
func MustAADSTS(tb testing.TB, err error, n int) {
	tb.Helper()
	var retrieve *oauth2.RetrieveError
	if !errors.As(err, &retrieve) {
		tb.Fatalf("error = %v, want an OAuth error", err)
	}
	var body struct {
		Description   string `json:"error_description"`
		Codes         []int  `json:"error_codes"`
		TraceID       string `json:"trace_id"`
		CorrelationID string `json:"correlation_id"`
		Timestamp     string `json:"timestamp"`
	}
	if err := json.Unmarshal(retrieve.Body, &body); err != nil {
		tb.Fatalf("error body is not JSON: %s", retrieve.Body)
	}
	prefix := "AADSTS" + strconv.Itoa(n) + ": "
	if !slices.Equal(body.Codes, []int{n}) || !strings.HasPrefix(body.Description, prefix) || body.TraceID == "" ||
		body.CorrelationID == "" || body.Timestamp == "" || !strings.Contains(body.Description, "\r\nTrace ID: "+body.TraceID) {
		tb.Fatalf("error body is not Entra's for AADSTS%d: %s", n, retrieve.Body)
	}
}

func MustRefresh(tb testing.TB, rp *relyingParty, refreshToken string) (*oauth2.Token, error) {
	tb.Helper()
	// A token without an access token makes x/oauth2 refresh at once.
	return rp.oauth.TokenSource(tb.Context(), &oauth2.Token{RefreshToken: refreshToken}).Token()
}

func TestDiscovery(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	wantIssuer := s.url + "/_sandbox/idp/" + TenantID + "/v2.0"
	if s.idp.Issuer() != wantIssuer {
		t.Fatalf("Issuer() = %q, want %q", s.idp.Issuer(), wantIssuer)
	}
	resp := MustGet(t, http.DefaultClient, s.idp.Issuer()+"/.well-known/openid-configuration")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discovery: status %d", resp.StatusCode)
	}
	var doc struct {
		Issuer                string   `json:"issuer"`
		Authorization         string   `json:"authorization_endpoint"`
		Token                 string   `json:"token_endpoint"`
		Userinfo              string   `json:"userinfo_endpoint"`
		EndSession            string   `json:"end_session_endpoint"`
		JWKS                  string   `json:"jwks_uri"`
		CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
		IDTokenSigningAlgs    []string `json:"id_token_signing_alg_values_supported"`
		TokenEndpointAuth     []string `json:"token_endpoint_auth_methods_supported"`
		Scopes                []string `json:"scopes_supported"`
		ResponseTypes         []string `json:"response_types_supported"`
		GrantTypes            []string `json:"grant_types_supported"`
		ClaimsSupported       []string `json:"claims_supported"`
		RequestObjectSupports bool     `json:"request_parameter_supported"`
	}
	if err := json.Unmarshal([]byte(MustBody(t, resp)), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Issuer != wantIssuer {
		t.Errorf("issuer = %q, want %q", doc.Issuer, wantIssuer)
	}
	for name, endpoint := range map[string]string{
		"authorization": doc.Authorization, "token": doc.Token, "userinfo": doc.Userinfo,
		"end_session": doc.EndSession, "jwks": doc.JWKS,
	} {
		if !strings.HasPrefix(endpoint, wantIssuer+"/") {
			t.Errorf("%s endpoint %q is not under the issuer", name, endpoint)
		}
	}
	// Entra's document, not zitadel's: no PKCE methods, Entra's scopes and claims lists.
	if doc.CodeChallengeMethods != nil || doc.GrantTypes != nil {
		t.Errorf("code_challenge_methods_supported %v, grant_types_supported %v: Entra sends neither", doc.CodeChallengeMethods, doc.GrantTypes)
	}
	if !slices.Equal(doc.IDTokenSigningAlgs, []string{"RS256"}) {
		t.Errorf("id_token_signing_alg_values_supported = %v, want [RS256]", doc.IDTokenSigningAlgs)
	}
	if !slices.Equal(doc.TokenEndpointAuth, []string{"client_secret_post", "private_key_jwt", "client_secret_basic"}) {
		t.Errorf("token_endpoint_auth_methods_supported = %v", doc.TokenEndpointAuth)
	}
	if !slices.Equal(doc.Scopes, []string{"openid", "profile", "email", "offline_access"}) {
		t.Errorf("scopes_supported = %v, want Entra's", doc.Scopes)
	}
	for _, claim := range []string{"sub", "iss", "tid", "ver", "nonce", "preferred_username", "cloud_instance_name"} {
		if !slices.Contains(doc.ClaimsSupported, claim) {
			t.Errorf("claims_supported = %v, lacks %s", doc.ClaimsSupported, claim)
		}
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(MustBody(t, MustGet(t, http.DefaultClient, s.idp.Issuer()+"/.well-known/openid-configuration"))), &raw); err != nil {
		t.Fatal(err)
	}
	if raw["frontchannel_logout_supported"] != true || raw["http_logout_supported"] != true || raw["request_uri_parameter_supported"] != false {
		t.Errorf("logout and request_uri fields: %v %v %v", raw["frontchannel_logout_supported"], raw["http_logout_supported"], raw["request_uri_parameter_supported"])
	}
	for _, absent := range []string{"introspection_endpoint", "revocation_endpoint", "request_parameter_supported", "code_challenge_methods_supported"} {
		if _, ok := raw[absent]; ok {
			t.Errorf("discovery has %s, which Entra's does not", absent)
		}
	}
	if raw["cloud_instance_name"] != "microsoftonline.com" || raw["msgraph_host"] != "graph.microsoft.com" {
		t.Errorf("cloud fields: %v %v", raw["cloud_instance_name"], raw["msgraph_host"])
	}

	// go-oidc checks that the document's issuer is the one asked for.
	rp := MustNewRelyingParty(t, s)
	if got := rp.provider.Endpoint().TokenURL; got != doc.Token {
		t.Errorf("go-oidc token URL = %q, want %q", got, doc.Token)
	}
}

func TestSignInAsEachPersona(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	for _, persona := range Personas() {
		if _, refused := s.idp.refusalFor(persona); refused {
			continue // TestEntraRefuses
		}
		t.Run(persona.Key, func(t *testing.T) {
			got := MustSignIn(t, rp, persona.Key)

			if got.idToken.Issuer != s.idp.Issuer() {
				t.Errorf("iss = %q, want %q", got.idToken.Issuer, s.idp.Issuer())
			}
			if !slices.Equal(got.idToken.Audience, []string{ClientID}) {
				t.Errorf("ID token aud = %v, want [%s] only", got.idToken.Audience, ClientID)
			}
			if got.idToken.Subject == "" || got.idToken.Subject == persona.ObjectID {
				t.Errorf("sub = %q, want a pairwise value that is not the oid", got.idToken.Subject)
			}
			var claims idTokenClaims
			if err := got.idToken.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			want := idTokenClaims{
				AuthorizedParty:   ClientID,
				TenantID:          persona.TenantID,
				ObjectID:          persona.ObjectID,
				Name:              persona.Name,
				PreferredUsername: persona.Username,
				Roles:             persona.Roles,
			}
			if claims.AuthorizedParty != want.AuthorizedParty || claims.TenantID != want.TenantID ||
				claims.ObjectID != want.ObjectID || claims.Name != want.Name ||
				claims.PreferredUsername != want.PreferredUsername || !slices.Equal(claims.Roles, want.Roles) {
				t.Errorf("ID token claims = %+v, want %+v", claims, want)
			}
			var raw map[string]any
			if err := got.idToken.Claims(&raw); err != nil {
				t.Fatal(err)
			}
			if _, ok := raw["roles"]; ok != (len(persona.Roles) > 0) {
				t.Errorf("roles claim present = %v, want %v (omitted without roles)", ok, len(persona.Roles) > 0)
			}

			access := MustVerifyAccessToken(t, s.idp, got.token.AccessToken)
			if access.Issuer != s.idp.Issuer() {
				t.Errorf("access token iss = %q, want %q", access.Issuer, s.idp.Issuer())
			}
			if !slices.Equal(access.Audience, []string{GraphAudience}) {
				t.Errorf("access token aud = %v, want [%s] only", access.Audience, GraphAudience)
			}
			if access.Scope != "DeviceManagementServiceConfig.ReadWrite.All" {
				t.Errorf("scp = %q, want DeviceManagementServiceConfig.ReadWrite.All", access.Scope)
			}
			if access.TenantID != persona.TenantID || access.ObjectID != persona.ObjectID ||
				access.Name != persona.Name || access.UPN != persona.accessUPN() {
				t.Errorf("access token tid/oid/name/upn = %q/%q/%q/%q, want %q/%q/%q/%q",
					access.TenantID, access.ObjectID, access.Name, access.UPN,
					persona.TenantID, persona.ObjectID, persona.Name, persona.accessUPN())
			}
			// Entra's v2.0 ID token: ver, opaque aio, and the optional claims registered.
			if raw["ver"] != "2.0" || raw["aio"] == nil || raw["uti"] == nil || raw["sid"] == nil || raw["login_hint"] != persona.loginHint() {
				t.Errorf("ver/aio/uti/sid/login_hint = %v/%v/%v/%v/%v", raw["ver"], raw["aio"], raw["uti"], raw["sid"], raw["login_hint"])
			}
			wantAcct := 0.0
			if persona.Guest() {
				wantAcct = 1
				if raw["idp"] != "https://sts.windows.net/"+OtherTenantID+"/" {
					t.Errorf("a guest's idp = %v, want his home tenant's issuer", raw["idp"])
				}
			} else if _, ok := raw["idp"]; ok {
				t.Errorf("a member's ID token carries idp %v", raw["idp"])
			}
			if raw["acct"] != wantAcct {
				t.Errorf("acct = %v, want %v", raw["acct"], wantAcct)
			}
			if _, ok := access.RawClaims["xms_cc"]; ok {
				t.Error("xms_cc in the access token of a client that declared no capability")
			}
			if access.Subject != got.idToken.Subject {
				t.Errorf("access token sub = %q, ID token sub = %q", access.Subject, got.idToken.Subject)
			}
			lifetime := time.Until(time.Unix(access.Expiry, 0))
			if lifetime < 59*time.Minute || lifetime > 61*time.Minute {
				t.Errorf("access token lives %v, want the 1h default", lifetime)
			}
			if got.token.RefreshToken == "" {
				t.Error("no refresh token although offline_access was asked for")
			}
		})
	}
}

func TestAccessTokenIsNotAnIDToken(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	got := MustSignIn(t, rp, "hannah")
	if _, err := rp.verifier.Verify(t.Context(), got.token.AccessToken); err == nil {
		t.Fatal("go-oidc accepted the access token as an ID token for the portal")
	}
}

func TestAccessTokenLifetimeFromConfig(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	server := httptest.NewServer(mux)
	t.Cleanup(server.Close)
	idp, err := NewIdP(IdPConfig{BaseURL: server.URL, DataDir: t.TempDir(), ClientSecret: testClientSecret, AccessTokenLifetime: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(idpPathPrefix, idp)
	s := &sandboxServer{idp: idp, url: server.URL, clock: new(testClock)}
	rp := MustNewRelyingParty(t, s)
	got := MustSignIn(t, rp, "avery")
	lifetime := time.Until(time.Unix(MustVerifyAccessToken(t, idp, got.token.AccessToken).Expiry, 0))
	if lifetime < 4*time.Minute || lifetime > 6*time.Minute {
		t.Errorf("access token lives %v, want 5m", lifetime)
	}
}

func TestAuthorizeRequiresS256(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	tests := []struct {
		name string
		opts []oauth2.AuthCodeOption
	}{
		{"no code_challenge", nil},
		{"plain", []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()),
			oauth2.SetAuthURLParam("code_challenge_method", "plain"),
		}},
		{"challenge without method", []oauth2.AuthCodeOption{
			oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			state := rand.Text()
			opts := append([]oauth2.AuthCodeOption{oidc.Nonce(rand.Text())}, tt.opts...)
			resp := MustGet(t, rp.browser, rp.oauth.AuthCodeURL(state, opts...))
			back, err := url.Parse(MustRedirect(t, resp, http.StatusFound))
			if err != nil {
				t.Fatal(err)
			}
			if got := back.Scheme + "://" + back.Host + back.Path; got != s.idp.RedirectURI() {
				t.Fatalf("redirected to %q, want an error at %q", back, s.idp.RedirectURI())
			}
			q := back.Query()
			if q.Get("error") != "invalid_request" || q.Get("state") != state || q.Get("code") != "" {
				t.Errorf("error redirect query = %v, want error=invalid_request with the state and no code", q)
			}
		})
	}
	s.idp.storage.mu.Lock()
	stored := len(s.idp.storage.authRequests)
	s.idp.storage.mu.Unlock()
	if stored != 0 {
		t.Errorf("%d auth requests stored, want none", stored)
	}
}

func TestCodeExchangeNeedsTheVerifier(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)

	t.Run("without verifier", func(t *testing.T) {
		code := MustGetCode(t, rp, newAuthorization(), "hannah")
		_, err := rp.oauth.Exchange(t.Context(), code)
		MustOAuthError(t, err, "invalid_grant")
		MustAADSTS(t, err, 501481)
	})
	t.Run("wrong verifier", func(t *testing.T) {
		code := MustGetCode(t, rp, newAuthorization(), "hannah")
		_, err := rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		MustOAuthError(t, err, "invalid_grant")
	})
}

func TestCodeWorksOnce(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	a := newAuthorization()
	code := MustGetCode(t, rp, a, "hannah")
	if _, err := rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier)); err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	_, err := rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier))
	MustOAuthError(t, err, "invalid_grant")
}

func TestClientAuthentication(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"client_secret_basic", oauth2.AuthStyleInHeader}, {"client_secret_post", oauth2.AuthStyleInParams}} {
		t.Run(style.name, func(t *testing.T) {
			config := rp.oauth
			config.Endpoint.AuthStyle = style.style
			a := newAuthorization()
			code := MustGetCode(t, rp, a, "hannah")
			if _, err := config.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier)); err != nil {
				t.Fatalf("exchange: %v", err)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		config := rp.oauth
		config.ClientSecret = "not-the-secret"
		config.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
		a := newAuthorization()
		code := MustGetCode(t, rp, a, "hannah")
		_, err := config.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier))
		MustOAuthError(t, err, "invalid_client")
		MustAADSTS(t, err, 7000215)
	})
}

func TestGraphScopes(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	rp.oauth.Scopes = []string{oidc.ScopeOpenID, "profile", graphRead, "https://example.com/Unknown.Scope"}
	a := newAuthorization()
	code := MustGetCode(t, rp, a, "avery")
	token, err := rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	if got := MustVerifyAccessToken(t, s.idp, token.AccessToken).Scope; got != "DeviceManagementServiceConfig.Read.All" {
		t.Errorf("scp = %q, want DeviceManagementServiceConfig.Read.All", got)
	}
	if scope, _ := token.Extra("scope").(string); strings.Contains(scope, "Unknown.Scope") {
		t.Errorf("granted scope %q keeps the unknown scope", scope)
	}
	if token.RefreshToken != "" {
		t.Error("refresh token issued without offline_access")
	}
}

func TestRefreshRotatesStrictly(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	first := MustSignIn(t, rp, "hannah")

	second, err := MustRefresh(t, rp, first.token.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.token.RefreshToken {
		t.Fatalf("refresh returned refresh token %q, want a new one", second.RefreshToken)
	}
	if second.AccessToken == first.token.AccessToken {
		t.Error("refresh returned the same access token")
	}
	_, idToken := MustVerifyIDToken(t, rp, second)
	if idToken.Subject != first.idToken.Subject {
		t.Errorf("refreshed ID token sub = %q, want %q", idToken.Subject, first.idToken.Subject)
	}
	if !slices.Equal(idToken.Audience, []string{ClientID}) {
		t.Errorf("refreshed ID token aud = %v", idToken.Audience)
	}
	access := MustVerifyAccessToken(t, s.idp, second.AccessToken)
	if access.Scope != "DeviceManagementServiceConfig.ReadWrite.All" || access.ObjectID != "3b7c2d1e-8f4a-4c6b-9d2e-1a5f7c9e3b41" {
		t.Errorf("refreshed access token scp/oid = %q/%q", access.Scope, access.ObjectID)
	}

	_, err = MustRefresh(t, rp, first.token.RefreshToken)
	MustOAuthError(t, err, "invalid_grant")
	if !strings.Contains(s.logs.String(), "store the rotated refresh token") {
		t.Error("reuse of a rotated refresh token is not logged")
	}

	third, err := MustRefresh(t, rp, second.RefreshToken)
	if err != nil {
		t.Fatalf("refresh with the rotated token: %v", err)
	}
	if third.RefreshToken == second.RefreshToken {
		t.Error("second refresh did not rotate")
	}
}

func TestRefreshWithUnknownTokenIsInvalidGrant(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	_, err := MustRefresh(t, rp, "no-such-refresh-token")
	MustOAuthError(t, err, "invalid_grant")
}

func TestTokenEndpointServesOnlyThePortalsGrants(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	tokenURL := rp.provider.Endpoint().TokenURL

	resp := MustGet(t, http.DefaultClient, tokenURL)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET token endpoint: status %d, want 405", resp.StatusCode)
	}
	resp = MustPostForm(t, http.DefaultClient, tokenURL, url.Values{
		"grant_type": {"password"}, "client_id": {ClientID}, "client_secret": {testClientSecret}, "username": {"hannah"}, "password": {"x"},
	})
	var oauthErr struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(MustBody(t, resp)), &oauthErr); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusBadRequest || oauthErr.Error != "unsupported_grant_type" {
		t.Errorf("password: status %d error %q, want 400 unsupported_grant_type", resp.StatusCode, oauthErr.Error)
	}
	// Client credentials are the watch's registration's alone (idp_client_credentials.go):
	// the portal's own registration holds no application permission.
	resp = MustPostForm(t, http.DefaultClient, tokenURL, url.Values{
		"grant_type": {"client_credentials"}, "client_id": {ClientID}, "client_secret": {testClientSecret},
		"scope": {"https://graph.microsoft.com/.default"},
	})
	if err := json.Unmarshal([]byte(MustBody(t, resp)), &oauthErr); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnauthorized || oauthErr.Error != "invalid_client" {
		t.Errorf("client_credentials for the portal: status %d error %q, want 401 invalid_client", resp.StatusCode, oauthErr.Error)
	}
}

func TestUserinfo(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	got := MustSignIn(t, rp, "nora")

	info, err := rp.provider.UserInfo(t.Context(), oauth2.StaticTokenSource(got.token))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var claims idTokenClaims
	if err := info.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if info.Subject != got.idToken.Subject || claims.ObjectID != "5d2e8f1a-3b4c-4d6e-9f7a-8b1c2d3e4f53" || claims.TenantID != TenantID {
		t.Errorf("userinfo sub/oid/tid = %q/%q/%q", info.Subject, claims.ObjectID, claims.TenantID)
	}

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rp.provider.UserInfoEndpoint(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+got.rawIDToken)
	if resp := MustDo(t, http.DefaultClient, req); resp.StatusCode == http.StatusOK {
		t.Error("userinfo accepted the ID token as an access token")
	}
}

func TestEndSession(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	var calls []url.Values
	var mu sync.Mutex
	s.mux.HandleFunc(FrontChannelLogoutPath, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, r.URL.Query())
		mu.Unlock()
		if len(r.Cookies()) != 0 {
			t.Errorf("the front-channel call carried cookies: %v", r.Cookies())
		}
	})
	frontChannelCalls := func() []url.Values {
		mu.Lock()
		defer mu.Unlock()
		out := calls
		calls = nil
		return out
	}
	endSessionURL := func(rp *relyingParty) string {
		var doc struct {
			EndSession string `json:"end_session_endpoint"`
		}
		if err := rp.provider.Claims(&doc); err != nil || doc.EndSession == "" {
			t.Fatalf("no end_session_endpoint in discovery (%v)", err)
		}
		return doc.EndSession
	}

	t.Run("registered redirect URI with logout_hint", func(t *testing.T) {
		rp := MustNewRelyingParty(t, s)
		got := MustSignIn(t, rp, "hannah")
		var claims struct {
			SID       string `json:"sid"`
			LoginHint string `json:"login_hint"`
		}
		got.idToken.Claims(&claims)
		resp := MustGet(t, rp.browser, endSessionURL(rp)+"?"+url.Values{"client_id": {ClientID},
			"post_logout_redirect_uri": {s.idp.PostLogoutRedirectURI()}, "logout_hint": {claims.LoginHint}}.Encode())
		if got := MustRedirect(t, resp, http.StatusFound); got != s.idp.PostLogoutRedirectURI() {
			t.Errorf("redirected to %q, want %q", got, s.idp.PostLogoutRedirectURI())
		}
		c := frontChannelCalls()
		if len(c) != 1 || c[0].Get("sid") != claims.SID || c[0].Get("iss") != s.idp.Issuer() {
			t.Errorf("front-channel calls %v, want one with sid %s and iss %s", c, claims.SID, s.idp.Issuer())
		}
		// The browser's session is over: signing out again ends nothing.
		MustGet(t, rp.browser, endSessionURL(rp)+"?"+url.Values{"client_id": {ClientID}, "logout_hint": {claims.LoginHint}}.Encode())
		if c := frontChannelCalls(); len(c) != 0 {
			t.Errorf("a second sign-out called the front-channel URL again: %v", c)
		}
	})
	t.Run("no logout_hint: the account picker", func(t *testing.T) {
		rp := MustNewRelyingParty(t, s)
		MustSignIn(t, rp, "avery")
		params := url.Values{"client_id": {ClientID}, "post_logout_redirect_uri": {s.idp.PostLogoutRedirectURI()}}
		resp := MustGet(t, rp.browser, endSessionURL(rp)+"?"+params.Encode())
		body := MustBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Pick an account") || !strings.Contains(body, "Avery Auditor") {
			t.Fatalf("no account picker: %d %s", resp.StatusCode, body)
		}
		if c := frontChannelCalls(); len(c) != 0 {
			t.Errorf("signed out before an account was picked: %v", c)
		}
		avery, _ := personaByKey("avery")
		params.Set("logout_hint", avery.loginHint())
		resp = MustPostForm(t, rp.browser, endSessionURL(rp), params)
		if got := MustRedirect(t, resp, http.StatusFound); got != s.idp.PostLogoutRedirectURI() {
			t.Errorf("after picking, redirected to %q", got)
		}
		if c := frontChannelCalls(); len(c) != 1 {
			t.Errorf("front-channel calls after picking: %v", c)
		}
	})
	t.Run("the front-channel URL is no redirect URI", func(t *testing.T) {
		rp := MustNewRelyingParty(t, s)
		MustSignIn(t, rp, "hannah")
		hannah, _ := personaByKey("hannah")
		resp := MustGet(t, rp.browser, endSessionURL(rp)+"?"+url.Values{"client_id": {ClientID},
			"post_logout_redirect_uri": {s.idp.FrontChannelLogoutURI()}, "logout_hint": {hannah.loginHint()}}.Encode())
		body := MustBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "You signed out of your account") {
			t.Errorf("an unregistered post_logout_redirect_uri: %d %s, want Entra's signed-out page", resp.StatusCode, resp.Header.Get("Location"))
		}
		if c := frontChannelCalls(); len(c) != 1 {
			t.Errorf("signed out of the provider all the same: front-channel calls %v", c)
		}
	})
	rp := MustNewRelyingParty(t, s)
	for name, params := range map[string]url.Values{
		"other host":                          {"client_id": {ClientID}, "post_logout_redirect_uri": {"https://evil.example/signed-out"}},
		"registered URI prefix":               {"client_id": {ClientID}, "post_logout_redirect_uri": {s.idp.PostLogoutRedirectURI() + ".evil.example"}},
		"without client_id":                   {"post_logout_redirect_uri": {"https://evil.example/"}},
		"without client_id, a registered URI": {"post_logout_redirect_uri": {s.idp.PostLogoutRedirectURI()}},
	} {
		t.Run(name, func(t *testing.T) {
			resp := MustGet(t, rp.browser, endSessionURL(rp)+"?"+params.Encode())
			if resp.StatusCode/100 == 3 {
				t.Fatalf("followed a post_logout_redirect_uri that is not the client's: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// Single sign-on: a second sign-in in the same browser is the same provider session (sid);
// another browser is another.
func TestSessionIDFollowsTheBrowser(t *testing.T) {
	t.Parallel()
	s := MustStartIdP(t)
	sidOf := func(got signIn) string {
		var c struct {
			SID string `json:"sid"`
		}
		got.idToken.Claims(&c)
		return c.SID
	}
	rp := MustNewRelyingParty(t, s)
	first, second := sidOf(MustSignIn(t, rp, "hannah")), sidOf(MustSignIn(t, rp, "hannah"))
	other := sidOf(MustSignIn(t, MustNewRelyingParty(t, s), "hannah"))
	if first == "" || first != second || other == first {
		t.Errorf("sids %q, %q in one browser and %q in another", first, second, other)
	}
	if switched := sidOf(MustSignIn(t, rp, "avery")); switched == first {
		t.Error("another account in the same browser kept the session")
	}
}

func TestLogsHoldNoSecrets(t *testing.T) {
	// zitadel logs through slog's default logger, so that is watched too.
	defaultLogs := new(lockedBuffer)
	previous := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(defaultLogs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(previous) })

	s := MustStartIdP(t)
	rp := MustNewRelyingParty(t, s)
	a := newAuthorization()
	code := MustGetCode(t, rp, a, "gus")
	token, err := rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier))
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := MustRefresh(t, rp, token.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = MustRefresh(t, rp, token.RefreshToken) // logs a warning
	MustOAuthError(t, err, "invalid_grant")
	_, err = rp.oauth.Exchange(t.Context(), code, oauth2.VerifierOption(a.verifier)) // logs an error
	MustOAuthError(t, err, "invalid_grant")

	logs := s.logs.String() + defaultLogs.String()
	if !strings.Contains(s.logs.String(), "persona=gus") {
		t.Errorf("sign-in not logged; logs:\n%s", s.logs.String())
	}
	idToken, _ := token.Extra("id_token").(string)
	for name, secret := range map[string]string{
		"code": code, "verifier": a.verifier, "access token": token.AccessToken, "ID token": idToken,
		"refresh token": token.RefreshToken, "rotated refresh token": rotated.RefreshToken,
		"client secret": testClientSecret,
	} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

func TestNewIdPRejectsBadConfig(t *testing.T) {
	t.Parallel()
	good := IdPConfig{BaseURL: "http://localhost:8080", DataDir: t.TempDir(), ClientSecret: "s"}
	tests := map[string]func(*IdPConfig){
		"empty BaseURL":        func(c *IdPConfig) { c.BaseURL = "" },
		"BaseURL with path":    func(c *IdPConfig) { c.BaseURL = "http://localhost:8080/portal" },
		"BaseURL not http":     func(c *IdPConfig) { c.BaseURL = "ftp://localhost" },
		"empty ClientSecret":   func(c *IdPConfig) { c.ClientSecret = "" },
		"empty DataDir":        func(c *IdPConfig) { c.DataDir = "" },
		"negative lifetime":    func(c *IdPConfig) { c.AccessTokenLifetime = -time.Minute },
		"BaseURL with a query": func(c *IdPConfig) { c.BaseURL = "http://localhost:8080?x=1" },
	}
	for name, breakConfig := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := good
			breakConfig(&cfg)
			if _, err := NewIdP(cfg); err == nil {
				t.Error("NewIdP accepted it")
			}
		})
	}
	t.Run("good, with trailing slash", func(t *testing.T) {
		cfg := good
		cfg.BaseURL += "/"
		idp, err := NewIdP(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if idp.RedirectURI() != "http://localhost:8080/auth/callback" ||
			idp.PostLogoutRedirectURI() != "http://localhost:8080/signed-out" ||
			idp.Issuer() != "http://localhost:8080/_sandbox/idp/"+TenantID+"/v2.0" {
			t.Errorf("URIs = %q, %q, %q", idp.RedirectURI(), idp.PostLogoutRedirectURI(), idp.Issuer())
		}
	})
}

func TestPersonas(t *testing.T) {
	t.Parallel()
	list := Personas()
	keys := make([]string, 0, len(list))
	for _, p := range list {
		keys = append(keys, p.Key)
	}
	if !slices.Equal(keys, []string{"hannah", "avery", "gus", "nora", "una", "eve"}) {
		t.Fatalf("persona keys = %v", keys)
	}
	want := map[string]struct {
		tenant string
		roles  []string
	}{
		"hannah": {TenantID, []string{"DepToken.Upload"}},
		"avery":  {TenantID, []string{"DepToken.Audit"}},
		"gus":    {TenantID, []string{"DepToken.Upload"}},
		"nora":   {TenantID, nil},
		"una":    {TenantID, nil},
		"eve":    {OtherTenantID, []string{"DepToken.Upload"}},
	}
	for _, p := range list {
		if p.TenantID != want[p.Key].tenant || !slices.Equal(p.Roles, want[p.Key].roles) {
			t.Errorf("%s: tid %s roles %v, want %s %v", p.Key, p.TenantID, p.Roles, want[p.Key].tenant, want[p.Key].roles)
		}
		if p.Name == "" || p.Username == "" || p.ObjectID == "" || p.Description == "" {
			t.Errorf("%s is incomplete: %+v", p.Key, p)
		}
	}
	list[0].Roles[0] = "Changed"
	if Personas()[0].Roles[0] != "DepToken.Upload" {
		t.Error("changing Personas()' result changed the personas")
	}
}
