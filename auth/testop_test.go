package auth_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
)

// testOP is a deliberately misbehaving OpenID provider for relying-party tests: each test
// decides what the ID token says and how it is signed. (The sandbox's provider is a real
// library; this one exists to lie.)
type testOP struct {
	t      testing.TB
	srv    *httptest.Server
	key    *rsa.PrivateKey
	other  *rsa.PrivateKey
	issuer string

	mu        sync.Mutex
	codes     map[string]authorizeRequest // code → the authorize request it answers
	refresh   map[string]bool             // live refresh tokens
	mint      func(claims map[string]any, header map[string]any) string
	refreshed int
	// refreshForms are the refresh requests' forms, as sent.
	refreshForms []url.Values
	// clientRefusal, when set, is the error_description of an invalid_client answer to every
	// token request: Entra refusing the portal's own credential.
	clientRefusal string
	// clientCert, when set, makes the token endpoint demand a client assertion signed by it
	// instead of a secret.
	clientCert *x509.Certificate
}

type authorizeRequest struct {
	Nonce, Challenge, Method, Claims string
}

const (
	testTenant = "11111111-2222-4333-8444-555555555555"
	testClient = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
	testOID    = "99999999-8888-4777-8666-555555555555"
)

func MustKey(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var (
	keyOnce          sync.Once
	sharedKey, other *rsa.PrivateKey
)

func newTestOP(tb testing.TB) *testOP {
	tb.Helper()
	keyOnce.Do(func() { sharedKey, other = MustKey(tb), MustKey(tb) })
	op := &testOP{t: tb, key: sharedKey, other: other, codes: map[string]authorizeRequest{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	op.srv = httptest.NewServer(mux)
	tb.Cleanup(op.srv.Close)
	op.issuer = op.srv.URL + "/" + testTenant + "/v2.0"
	base := "/" + testTenant + "/v2.0"
	mux.HandleFunc(base+"/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                op.issuer,
			"authorization_endpoint":                op.issuer + "/authorize",
			"token_endpoint":                        op.issuer + "/token",
			"jwks_uri":                              op.issuer + "/keys",
			"end_session_endpoint":                  op.issuer + "/logout",
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc(base+"/keys", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &op.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc(base+"/token", op.token)
	op.mint = op.sign(op.key, "k1")
	return op
}

// authorize plays the browser's trip to the provider: it reads the authorize URL the relying
// party built and returns the code the provider would send back.
func (op *testOP) authorize(authURL string) (code, state string, req authorizeRequest) {
	u, err := url.Parse(authURL)
	if err != nil {
		op.t.Fatal(err)
	}
	q := u.Query()
	req = authorizeRequest{Nonce: q.Get("nonce"), Challenge: q.Get("code_challenge"), Method: q.Get("code_challenge_method"), Claims: q.Get("claims")}
	code = fmt.Sprintf("code-%d", time.Now().UnixNano())
	op.mu.Lock()
	op.codes[code] = req
	op.mu.Unlock()
	return code, q.Get("state"), req
}

func (op *testOP) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	fail := func(code string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": "test provider refused"})
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.clientRefusal != "" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]any{"error": "invalid_client", "error_description": op.clientRefusal})
		return
	}
	if err := op.authenticateClient(r); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_client", "error_description": err.Error()})
		return
	}
	var nonce string
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		req, ok := op.codes[r.PostForm.Get("code")]
		delete(op.codes, r.PostForm.Get("code"))
		if !ok {
			fail("invalid_grant")
			return
		}
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if req.Method != "S256" || base64.RawURLEncoding.EncodeToString(sum[:]) != req.Challenge {
			fail("invalid_grant")
			return
		}
		nonce = req.Nonce
	case "refresh_token":
		rt := r.PostForm.Get("refresh_token")
		op.refreshForms = append(op.refreshForms, r.PostForm)
		// Entra's v2.0 endpoint takes the scopes on a refresh too; without them it cannot tell
		// which resource the new access token is for.
		if !strings.Contains(" "+r.PostForm.Get("scope")+" ", " https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All ") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": "invalid_request", "error_codes": []int{90014},
				"error_description": "AADSTS90014: The required field 'scope' is missing from the credential."})
			return
		}
		if !op.refresh[rt] {
			fail("invalid_grant")
			return
		}
		delete(op.refresh, rt) // strict rotation
		op.refreshed++
	default:
		fail("unsupported_grant_type")
		return
	}
	rt := fmt.Sprintf("rt-%d", time.Now().UnixNano())
	op.refresh[rt] = true
	now := time.Now()
	claims := map[string]any{
		"iss": op.issuer, "aud": testClient, "sub": "pairwise-sub", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"nonce": nonce, "tid": testTenant, "oid": testOID, "name": "Hannah Helpdesk",
		"preferred_username": "hannah@contoso.example", "roles": []string{"DepToken.Upload"},
	}
	resp := map[string]any{
		"access_token":  fmt.Sprintf("at-%d", now.UnixNano()),
		"token_type":    "Bearer",
		"expires_in":    3600,
		"refresh_token": rt,
		"id_token":      op.mint(claims, map[string]any{}),
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

// authenticateClient checks the secret, or the client assertion as Entra ID would: signature
// by the registered certificate, iss = sub = client ID, aud = the token endpoint, not expired,
// a short lifetime.
func (op *testOP) authenticateClient(r *http.Request) error {
	if op.clientCert == nil {
		if r.PostForm.Get("client_secret") != "secret" {
			return errors.New("wrong client secret")
		}
		return nil
	}
	if r.PostForm.Get("client_secret") != "" {
		return errors.New("a secret was sent where an assertion is required")
	}
	if r.PostForm.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
		return errors.New("no client assertion")
	}
	// Microsoft's certificate-credentials page: alg PS256 (RSASSA-PSS), the certificate named
	// by x5t#S256. An RS256 assertion is refused here, whatever older pages said.
	jws, err := jose.ParseSigned(r.PostForm.Get("client_assertion"), []jose.SignatureAlgorithm{jose.PS256})
	if err != nil {
		return fmt.Errorf("assertion not PS256: %w", err)
	}
	payload, err := jws.Verify(op.clientCert.PublicKey)
	if err != nil {
		return errors.New("assertion signature invalid")
	}
	sum := sha256.Sum256(op.clientCert.Raw)
	if jws.Signatures[0].Header.ExtraHeaders["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) {
		return errors.New("x5t#S256 does not name the certificate")
	}
	var c struct {
		Iss, Sub, Aud, Jti string
		Exp, Nbf           int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return err
	}
	now := time.Now().Unix()
	switch {
	case c.Iss != testClient || c.Sub != testClient:
		return errors.New("iss/sub is not the client")
	case c.Aud != op.issuer+"/token":
		return fmt.Errorf("aud %q is not the token endpoint", c.Aud)
	case c.Exp < now || c.Exp > now+600 || c.Nbf > now+60:
		return errors.New("assertion expired or too long-lived")
	case c.Jti == "":
		return errors.New("no jti")
	}
	return nil
}

// sign returns a minter signing with key under kid.
func (op *testOP) sign(key *rsa.PrivateKey, kid string) func(map[string]any, map[string]any) string {
	return func(claims map[string]any, _ map[string]any) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
		if err != nil {
			op.t.Fatal(err)
		}
		payload, _ := json.Marshal(claims)
		obj, err := signer.Sign(payload)
		if err != nil {
			op.t.Fatal(err)
		}
		s, err := obj.CompactSerialize()
		if err != nil {
			op.t.Fatal(err)
		}
		return s
	}
}

// withClaims wraps the default minter, changing the claims first.
func (op *testOP) withClaims(change func(map[string]any)) {
	signer := op.sign(op.key, "k1")
	op.mint = func(c map[string]any, h map[string]any) string {
		change(c)
		return signer(c, h)
	}
}

type rig struct {
	op       *testOP
	db       *store.DB
	signIn   *auth.SignIn
	sessions *auth.Sessions
	clock    *testClock
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

var sessionKey = []byte("0123456789abcdef0123456789abcdef")

func newRig(tb testing.TB) *rig {
	tb.Helper()
	return newRigWith(tb, nil)
}

func newRigWith(tb testing.TB, cert *auth.ClientCertificate) *rig {
	tb.Helper()
	op := newTestOP(tb)
	db := testkit.MustSQLite(tb)
	clock := &testClock{now: time.Now()}
	signIn, err := auth.NewSignIn(auth.SignInConfig{
		Issuer:                op.issuer,
		TenantID:              testTenant,
		ClientID:              testClient,
		ClientSecret:          "secret",
		RedirectURL:           "http://localhost/auth/callback",
		PostLogoutRedirectURL: "http://localhost/signed-out",
		GraphScope:            "https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All",
		ClientCertificate:     cert,
		Now:                   clock.Now,
	}, db, sessionKey)
	if err != nil {
		tb.Fatal(err)
	}
	sessions, err := auth.NewSessions(auth.SessionConfig{
		IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 8 * time.Hour, Now: clock.Now,
	}, db, sessionKey, signIn)
	if err != nil {
		tb.Fatal(err)
	}
	return &rig{op: op, db: db, signIn: signIn, sessions: sessions, clock: clock}
}

// login runs Begin, the provider's authorize step, and Complete.
func (r *rig) login(tb testing.TB) (auth.Completed, error) {
	tb.Helper()
	const binding = "browser-binding"
	authURL, err := r.signIn.Begin(context.Background(), binding, "/settings/42")
	if err != nil {
		tb.Fatalf("Begin: %v", err)
	}
	code, state, _ := r.op.authorize(authURL)
	return r.signIn.Complete(context.Background(), binding, url.Values{"code": {code}, "state": {state}})
}

func MustLogin(tb testing.TB, r *rig) auth.Completed {
	tb.Helper()
	done, err := r.login(tb)
	if err != nil {
		tb.Fatalf("login: %v", err)
	}
	return done
}

func noneToken(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	p, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p) + "."
}

func hasPrefix(s, p string) bool { return strings.HasPrefix(s, p) }
