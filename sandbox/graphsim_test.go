package sandbox

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

const (
	testGraphIssuer = "https://login.sandbox.test/" + TenantID + "/v2.0"
	testGraphKID    = "graph-test-key"
)

// Settings by their place in the seed, for readable tests.
const (
	settingSoon    = "0b6f9a4e-2c1d-4e8f-9a3b-5d7c1e2f4a61" // Contoso ABM, expires in 9 days
	settingExpired = "4e2d8c1a-7b3f-4a9e-8d6c-2f1e5a9b3c72" // Contoso Retail ABM, expired
	settingSchool  = "9a1c3e5f-6b2d-4f8a-8c7e-1d3f5b7a9c83" // Contoso Schools ASM
)

// Generating RSA keys under the race detector takes seconds each, so the tests share a few.
var (
	testKeysOnce sync.Once
	testKeys     []*rsa.PrivateKey
	testKeysErr  error
)

func MustTestKeys(tb testing.TB) []*rsa.PrivateKey {
	tb.Helper()
	testKeysOnce.Do(func() {
		for range 7 {
			key, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				testKeysErr = err
				return
			}
			testKeys = append(testKeys, key)
		}
	})
	if testKeysErr != nil {
		tb.Fatal(testKeysErr)
	}
	return testKeys
}

// keySource hands one Graph distinct keys from the shared ones; the last is kept for signing
// access tokens.
func keySource(tb testing.TB) func() (*rsa.PrivateKey, error) {
	keys := MustTestKeys(tb)
	var next atomic.Int64
	return func() (*rsa.PrivateKey, error) {
		n := int(next.Add(1)-1) % (len(keys) - 1)
		return keys[n], nil
	}
}

func tokenSigningKey(tb testing.TB) *rsa.PrivateKey {
	keys := MustTestKeys(tb)
	return keys[len(keys)-1]
}

// graphClock is the simulator's clock in tests: real time plus an offset a test can move.
type graphClock struct{ offset atomic.Int64 }

func (c *graphClock) now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *graphClock) advance(d time.Duration) { c.offset.Add(int64(d)) }

// graphLogs collects log output written from server goroutines.
type graphLogs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *graphLogs) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *graphLogs) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type graphServer struct {
	graph   *Graph
	url     string // the server's origin
	dataDir string
	clock   *graphClock
	logs    *graphLogs
	client  *http.Client
}

// base is the simulator's Graph beta base URL, as the portal would be configured with it.
func (s *graphServer) base() string { return s.url + "/_sandbox/graph/beta" }

func testGraphConfig(tb testing.TB, dataDir string, clock *graphClock, logs io.Writer) GraphConfig {
	signing := tokenSigningKey(tb)
	return GraphConfig{
		DataDir: dataDir,
		Issuer:  testGraphIssuer,
		Keys: func() jose.JSONWebKeySet {
			return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &signing.PublicKey, KeyID: testGraphKID, Algorithm: "RS256", Use: "sig"}}}
		},
		Now:    clock.now,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		newKey: keySource(tb),
	}
}

// MustStartGraph serves a new simulator, with its samples and home page, as main mounts them.
func MustStartGraph(tb testing.TB, configure ...func(*GraphConfig)) *graphServer {
	tb.Helper()
	return MustStartGraphIn(tb, tb.TempDir(), configure...)
}

func MustStartGraphIn(tb testing.TB, dataDir string, configure ...func(*GraphConfig)) *graphServer {
	tb.Helper()
	clock := new(graphClock)
	logs := new(graphLogs)
	cfg := testGraphConfig(tb, dataDir, clock, logs)
	for _, f := range configure {
		f(&cfg)
	}
	g, err := NewGraph(cfg)
	if err != nil {
		tb.Fatalf("NewGraph: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/_sandbox/graph/beta/", g)
	mux.Handle("/_sandbox/tokens/", g.SamplesHandler())
	mux.Handle("/_sandbox/", NewHome(g))
	server := httptest.NewServer(mux)
	tb.Cleanup(server.Close)
	return &graphServer{graph: g, url: server.URL, dataDir: dataDir, clock: clock, logs: logs, client: server.Client()}
}

// MustMintToken signs an access token as the sandbox IdP would, after edit has had its way
// with the claims (a nil value removes a claim).
func MustMintToken(tb testing.TB, edit map[string]any) string {
	tb.Helper()
	return MustMintTokenWith(tb, tokenSigningKey(tb), testGraphKID, edit)
}

func MustMintTokenWith(tb testing.TB, key *rsa.PrivateKey, kid string, edit map[string]any) string {
	tb.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": testGraphIssuer,
		"aud": GraphAudience,
		"sub": "test-subject",
		"iat": now.Add(-time.Minute).Unix(),
		"nbf": now.Add(-time.Minute).Unix(),
		"exp": now.Add(time.Hour).Unix(),
		"tid": TenantID,
		"oid": "3b7c2d1e-8f4a-4c6b-9d2e-1a5f7c9e3b41",
		"upn": "hannah@contoso-sandbox.example",
		"scp": scopeReadWrite,
	}
	for k, v := range edit {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

type graphResponse struct {
	*http.Response
	body []byte
}

// MustCallGraph sends a request to the simulator; path is under the Graph beta base unless it
// is a full URL. A body is sent with a Content-Length, as the portal must.
func MustCallGraph(tb testing.TB, s *graphServer, method, path, token string, body []byte, header ...string) graphResponse {
	tb.Helper()
	target := path
	if !strings.HasPrefix(path, "http") {
		target = s.base() + path
	}
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(tb.Context(), method, target, reader)
	if err != nil {
		tb.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return MustSend(tb, s.client, req)
}

func MustSend(tb testing.TB, client *http.Client, req *http.Request) graphResponse {
	tb.Helper()
	resp, err := client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return graphResponse{Response: resp, body: body}
}

func MustStatus(tb testing.TB, resp graphResponse, status int) {
	tb.Helper()
	if resp.StatusCode != status {
		tb.Fatalf("%s %s: status %d, want %d; body: %s", resp.Request.Method, resp.Request.URL, resp.StatusCode, status, resp.body)
	}
}

func MustJSON(tb testing.TB, raw []byte, v any) {
	tb.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		tb.Fatalf("not JSON (%v): %s", err, raw)
	}
}

// MustGraphError checks a Graph error response: status, code, and innerError IDs that match
// the headers.
func MustGraphError(tb testing.TB, resp graphResponse, status int, code string) graphError {
	tb.Helper()
	MustStatus(tb, resp, status)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("Content-Type %q, want application/json", ct)
	}
	var body graphErrorBody
	MustJSON(tb, resp.body, &body)
	e := body.Error
	if e.Code != code {
		tb.Fatalf("error code %q, want %q; body: %s", e.Code, code, resp.body)
	}
	if e.InnerError.RequestID == "" || e.InnerError.RequestID != resp.Header.Get("request-id") {
		tb.Errorf("innerError request-id %q, header %q", e.InnerError.RequestID, resp.Header.Get("request-id"))
	}
	if e.InnerError.ClientRequestID == "" || e.InnerError.ClientRequestID != resp.Header.Get("client-request-id") {
		tb.Errorf("innerError client-request-id %q, header %q", e.InnerError.ClientRequestID, resp.Header.Get("client-request-id"))
	}
	if _, err := time.Parse("2006-01-02T15:04:05", e.InnerError.Date); err != nil {
		tb.Errorf("innerError date %q: %v", e.InnerError.Date, err)
	}
	return e
}

// MustIntuneError checks that the error's message is Intune's envelope, as a JSON string, and
// returns its Message.
func MustIntuneError(tb testing.TB, resp graphResponse, status int, code string) string {
	tb.Helper()
	e := MustGraphError(tb, resp, status, code)
	var env map[string]any
	if err := json.Unmarshal([]byte(e.Message), &env); err != nil {
		tb.Fatalf("message is not Intune's JSON envelope (%v): %q", err, e.Message)
	}
	if env["_version"] != float64(3) || env["RetryAfter"] != nil || env["HttpHeaders"] != "{}" {
		tb.Errorf("envelope = %v", env)
	}
	for _, k := range []string{"CustomApiErrorPhrase", "ErrorSourceService"} {
		if _, ok := env[k]; !ok {
			tb.Errorf("envelope lacks %s: %v", k, env)
		}
	}
	message, _ := env["Message"].(string)
	wantActivity := "Activity ID: " + resp.Header.Get("request-id")
	if !strings.Contains(message, wantActivity) || !strings.Contains(message, "Operation ID (for customer support): ") ||
		!strings.Contains(message, " - Url: https://fef.") {
		tb.Errorf("Message %q lacks %q, the Operation ID or the Url", message, wantActivity)
	}
	return message
}

func TestGraphAuthentication(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	otherKey := MustTestKeys(t)[0]
	now := time.Now()
	for _, tc := range []struct {
		name, token, message string
	}{
		{"no token", "", "Access token is empty."},
		{"not a JWT", "not-a-jwt", "CompactToken parsing failed"},
		{"unknown kid", MustMintTokenWith(t, tokenSigningKey(t), "other-kid", nil), "Invalid signature"},
		{"bad signature", MustMintTokenWith(t, otherKey, testGraphKID, nil), "Invalid signature"},
		{"wrong issuer", MustMintToken(t, map[string]any{"iss": "https://login.microsoftonline.com/" + TenantID + "/v2.0"}), "Invalid issuer"},
		{"ID token (aud is the portal)", MustMintToken(t, map[string]any{"aud": ClientID}), "Invalid audience"},
		{"expired", MustMintToken(t, map[string]any{"exp": now.Add(-10 * time.Minute).Unix()}), "the token is expired"},
		{"no exp", MustMintToken(t, map[string]any{"exp": nil}), "no expiry"},
		{"not yet valid", MustMintToken(t, map[string]any{"nbf": now.Add(time.Hour).Unix()}), "not yet valid"},
		{"another tenant", MustMintToken(t, map[string]any{"tid": OtherTenantID}), OtherTenantID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", tc.token, nil)
			e := MustGraphError(t, resp, http.StatusUnauthorized, "InvalidAuthenticationToken")
			if !strings.Contains(e.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", e.Message, tc.message)
			}
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("skew within five minutes is tolerated", func(t *testing.T) {
		token := MustMintToken(t, map[string]any{"exp": now.Add(-2 * time.Minute).Unix()})
		MustStatus(t, MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", token, nil), http.StatusOK)
	})
	t.Run("Graph's app ID as audience", func(t *testing.T) {
		token := MustMintToken(t, map[string]any{"aud": []string{graphAppID}})
		MustStatus(t, MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", token, nil), http.StatusOK)
	})
}

func TestGraphScopeChecks(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	list := "/deviceManagement/depOnboardingSettings"
	upload := list + "/" + settingSoon + "/uploadDepToken"
	body := MustUploadBody(t, "someone@contoso.com", string(MustSample(t, s.graph, settingSoon, SampleValid).Data))
	for _, tc := range []struct {
		name, scp, method, path string
		body                    []byte
		want                    int
		wantScopes              string
	}{
		{"no scp, read", "", http.MethodGet, list, nil, http.StatusForbidden, scopeRead + ", " + scopeReadWrite},
		{"unrelated scp, read", "User.Read", http.MethodGet, list, nil, http.StatusForbidden, scopeRead + ", " + scopeReadWrite},
		{"Read.All, read", scopeRead, http.MethodGet, list, nil, http.StatusOK, ""},
		{"ReadWrite.All, read", "openid " + scopeReadWrite, http.MethodGet, list, nil, http.StatusOK, ""},
		{"Read.All, upload", scopeRead, http.MethodPost, upload, body, http.StatusForbidden, scopeReadWrite},
		{"Read.All, sync", scopeRead, http.MethodPost, list + "/" + settingSoon + "/syncWithAppleDeviceEnrollmentProgram", []byte{}, http.StatusForbidden, scopeReadWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"scp": tc.scp}
			if tc.scp == "" {
				claims["scp"] = nil
			}
			resp := MustCallGraph(t, s, tc.method, tc.path, MustMintToken(t, claims), tc.body)
			if tc.want != http.StatusForbidden {
				MustStatus(t, resp, tc.want)
				return
			}
			message := MustIntuneError(t, resp, http.StatusForbidden, "Forbidden")
			want := "Application is not authorized to perform this operation. Application must have one of the following scopes: " + tc.wantScopes + " - "
			if !strings.HasPrefix(message, want) {
				t.Errorf("Message %q, want prefix %q", message, want)
			}
		})
	}
	if got := s.graph.Settings()[0].AppleIdentifier; got != "abm-admin@contoso.com" {
		t.Errorf("a refused upload changed appleIdentifier to %q", got)
	}
}

// TestGraphWithTheSandboxIdP runs the real provider's code flow and uses its tokens, as the
// portal will.
func TestGraphWithTheSandboxIdP(t *testing.T) {
	t.Parallel()
	idp := MustStartIdP(t)
	s := MustStartGraph(t, func(cfg *GraphConfig) {
		cfg.Issuer = idp.idp.Issuer()
		cfg.Keys = idp.idp.PublicKeys
	})
	rp := MustNewRelyingParty(t, idp)
	hannah := MustSignIn(t, rp, "hannah")

	resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", hannah.token.AccessToken, nil)
	MustStatus(t, resp, http.StatusOK)
	body := MustUploadBody(t, "hannah@contoso.com", string(MustSample(t, s.graph, settingSoon, SampleValid).Data))
	resp = MustCallGraph(t, s, http.MethodPost, "/deviceManagement/depOnboardingSettings/"+settingSoon+"/uploadDepToken", hannah.token.AccessToken, body)
	MustStatus(t, resp, http.StatusNoContent)

	t.Run("the ID token is not for Graph", func(t *testing.T) {
		resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", hannah.rawIDToken, nil)
		e := MustGraphError(t, resp, http.StatusUnauthorized, "InvalidAuthenticationToken")
		if !strings.Contains(e.Message, "Invalid audience") {
			t.Errorf("message %q", e.Message)
		}
	})
	t.Run("Gus, a guest here, reads this tenant's Intune", func(t *testing.T) {
		gus := MustSignIn(t, rp, "gus")
		resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", gus.token.AccessToken, nil)
		MustStatus(t, resp, http.StatusOK)
	})
	t.Run("a read-only token cannot upload", func(t *testing.T) {
		rp := MustNewRelyingParty(t, idp)
		rp.oauth.Scopes = []string{"openid", "profile", graphRead}
		avery := MustSignIn(t, rp, "avery")
		resp := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", avery.token.AccessToken, nil)
		MustStatus(t, resp, http.StatusOK)
		resp = MustCallGraph(t, s, http.MethodPost, "/deviceManagement/depOnboardingSettings/"+settingSoon+"/uploadDepToken", avery.token.AccessToken, body)
		MustIntuneError(t, resp, http.StatusForbidden, "Forbidden")
	})
}

func TestGraphResponseHeaders(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	token := MustMintToken(t, nil)
	sent := uuid.NewString()
	for _, tc := range []struct {
		name, clientRequestID string
		echoed                bool
	}{
		{"GUID is echoed", sent, true},
		{"none sent", "", false},
		{"not a GUID", "my-request-1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.clientRequestID != "" {
				header = []string{"client-request-id", tc.clientRequestID}
			}
			for _, path := range []string{"/deviceManagement/depOnboardingSettings", "/deviceManagement/nothing"} {
				resp := MustCallGraph(t, s, http.MethodGet, path, token, nil, header...)
				if err := uuid.Validate(resp.Header.Get("request-id")); err != nil {
					t.Errorf("%s: request-id %q: %v", path, resp.Header.Get("request-id"), err)
				}
				got := resp.Header.Get("client-request-id")
				if err := uuid.Validate(got); err != nil {
					t.Errorf("%s: client-request-id %q: %v", path, got, err)
				}
				if (got == tc.clientRequestID) != tc.echoed {
					t.Errorf("%s: client-request-id %q for %q sent", path, got, tc.clientRequestID)
				}
				if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
					t.Errorf("%s: Date %q: %v", path, resp.Header.Get("Date"), err)
				}
			}
		})
	}
	a := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", token, nil)
	b := MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings", token, nil)
	if a.Header.Get("request-id") == b.Header.Get("request-id") {
		t.Error("two calls share a request-id")
	}
}

func TestGraphUnknownPaths(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	token := MustMintToken(t, nil)
	for _, tc := range []struct {
		method, path, segment string
	}{
		{http.MethodGet, "/me", "me"},
		{http.MethodGet, "/", "beta"},
		{http.MethodGet, "/deviceManagement", "deviceManagement"},
		{http.MethodGet, "/deviceManagement/managedDevices", "managedDevices"},
		{http.MethodGet, "/deviceManagement/depOnboardingSettings/" + settingSoon + "/enrollmentProfiles", "enrollmentProfiles"},
		{http.MethodPost, "/deviceManagement/depOnboardingSettings/" + settingSoon + "/uploadDepToken/more", "more"},
	} {
		resp := MustCallGraph(t, s, tc.method, tc.path, token, nil)
		e := MustGraphError(t, resp, http.StatusBadRequest, "BadRequest")
		if want := "Resource not found for the segment '" + tc.segment + "'."; e.Message != want {
			t.Errorf("%s: message %q, want %q", tc.path, e.Message, want)
		}
	}
	resp := MustCallGraph(t, s, http.MethodDelete, "/deviceManagement/depOnboardingSettings/"+settingSoon, token, nil)
	MustGraphError(t, resp, http.StatusMethodNotAllowed, "BadRequest")
	if resp.Header.Get("Allow") != http.MethodGet {
		t.Errorf("Allow = %q", resp.Header.Get("Allow"))
	}
	resp = MustCallGraph(t, s, http.MethodGet, "/deviceManagement/depOnboardingSettings/"+settingSoon+"/uploadDepToken", token, nil)
	MustGraphError(t, resp, http.StatusMethodNotAllowed, "BadRequest")
}

func TestNewGraphRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*GraphConfig)
	}{
		{"no DataDir", func(c *GraphConfig) { c.DataDir = "" }},
		{"no Issuer", func(c *GraphConfig) { c.Issuer = "" }},
		{"no Keys", func(c *GraphConfig) { c.Keys = nil }},
		{"unknown encoding", func(c *GraphConfig) { c.DepTokenEncoding = "hex" }},
		{"bad faults", func(c *GraphConfig) { c.Faults = "upload=418" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testGraphConfig(t, t.TempDir(), new(graphClock), io.Discard)
			tc.edit(&cfg)
			if _, err := NewGraph(cfg); err == nil {
				t.Error("NewGraph accepted it")
			}
		})
	}
}
