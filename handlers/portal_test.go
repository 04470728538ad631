package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/graph"
	"github.com/depportal/depportal/metrics"
	"github.com/depportal/depportal/renewal"
	"github.com/depportal/depportal/sandbox"
	"github.com/depportal/depportal/store"
)

// testPortal is the real handler with the sandbox tenant, on an httptest server.
type testPortal struct {
	srv      *httptest.Server
	server   *server
	sessions *auth.Sessions
	logs     *syncBuffer
	tenant   *sandbox.Tenant
	db       *store.DB
	simTime  *atomic.Int64 // time spent inside the Intune simulator's handler
	trail    *audit.Trail
	tokens   *tokenCapture // every token the provider issued, for leak tests
	pages    *pageLog      // every page body the test browsers received
}

// tokenCapture records the tokens the provider's token endpoint hands out.
type tokenCapture struct {
	mu     sync.Mutex
	tokens []string
}

func (c *tokenCapture) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !strings.HasSuffix(r.URL.Path, "/token") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var t map[string]any
	if json.Unmarshal(body, &t) == nil {
		c.mu.Lock()
		for _, k := range []string{"access_token", "refresh_token", "id_token"} {
			if s, ok := t[k].(string); ok && s != "" {
				c.tokens = append(c.tokens, s)
			}
		}
		c.mu.Unlock()
	}
	return resp, nil
}

func (c *tokenCapture) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.tokens...)
}

// pageLog keeps what the test browsers were shown.
type pageLog struct {
	mu     sync.Mutex
	bodies []string
}

func (l *pageLog) add(s string) {
	l.mu.Lock()
	l.bodies = append(l.bodies, s)
	l.mu.Unlock()
}

func (l *pageLog) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.bodies, "\n")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func newTestPortal(tb testing.TB, env map[string]string) *testPortal {
	tb.Helper()
	return newTestPortalWith(tb, env, func(*sandbox.TenantConfig) {})
}

func newTestPortalWith(tb testing.TB, env map[string]string, tune func(*sandbox.TenantConfig)) *testPortal {
	tb.Helper()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	tb.Cleanup(srv.Close)

	dir := tb.TempDir()
	if env == nil {
		env = map[string]string{}
	}
	env["DEPPORTAL_PUBLIC_URL"] = srv.URL
	env["DEPPORTAL_DATA_DIR"] = dir
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		tb.Fatal(err)
	}
	cfg.SessionKey = testKey
	cfg.TenantID, cfg.ClientID, cfg.ClientSecret = sandbox.TenantID, sandbox.ClientID, "test-secret"
	cfg.AuthorityHost = srv.URL + "/_sandbox/idp"

	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	tc := sandbox.TenantConfig{
		BaseURL: srv.URL, DataDir: dir, ClientSecret: cfg.ClientSecret, PageSize: 2,
		DepTokenEncoding: cfg.DepTokenEncoding, Logger: logger,
	}
	tune(&tc)
	tenant, err := sandbox.NewTenant(tc)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.GraphBaseURL = tenant.GraphBaseURL()
	m := metrics.New()
	intune, err := graph.New(graph.Config{BaseURL: cfg.GraphBaseURL, DepTokenEncoding: cfg.DepTokenEncoding, Observe: m.GraphCall})
	if err != nil {
		tb.Fatal(err)
	}

	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "t.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	captured := &tokenCapture{}
	signIn, err := auth.NewSignIn(auth.SignInConfig{
		Issuer: cfg.Issuer(), TenantID: cfg.TenantID, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		RedirectURL: cfg.RedirectURL(), PostLogoutRedirectURL: cfg.PostLogoutRedirectURL(), GraphScope: cfg.GraphScope(),
		HTTPClient: &http.Client{Transport: captured},
	}, db, cfg.SessionKey)
	if err != nil {
		tb.Fatal(err)
	}
	sessions, err := auth.NewSessions(auth.SessionConfig{IdleTimeout: cfg.SessionIdleTimeout, AbsoluteTimeout: cfg.SessionAbsoluteTimeout}, db, cfg.SessionKey, signIn)
	if err != nil {
		tb.Fatal(err)
	}
	skey, _, err := audit.GenerateKey("depportal-test/audit")
	if err != nil {
		tb.Fatal(err)
	}
	trail, err := audit.New(audit.Config{Store: db, SignerKey: skey, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	runCtx, stopTrail := context.WithCancel(context.Background())
	trailDone := make(chan struct{})
	go func() { defer close(trailDone); trail.Run(runCtx) }()
	tb.Cleanup(func() { stopTrail(); <-trailDone })
	renewals, err := renewal.New(renewal.Config{Intune: intune, Store: db, Audit: trail, SessionKey: cfg.SessionKey,
		ReconcileDelays: []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond}})
	if err != nil {
		tb.Fatal(err)
	}
	simTime := &atomic.Int64{}
	timedTenant := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		tenant.ServeHTTP(w, r)
		if strings.HasPrefix(r.URL.Path, "/_sandbox/graph/") {
			simTime.Add(int64(time.Since(start)))
		}
	})
	h := New(Deps{Config: cfg, Logger: logger, SignIn: signIn, Sessions: sessions, Database: db, Sandbox: timedTenant, Intune: intune, Renewals: renewals, Metrics: m, Audit: trail, AuditStore: db})
	srv.Config.Handler = h
	if err := signIn.Discover(context.Background()); err != nil {
		tb.Fatal(err)
	}
	// The server behind the handler, for tests that walk the route table.
	s := &server{Deps: Deps{Config: cfg, Sandbox: tenant, Logger: logger}, roles: auth.Roles{Uploader: cfg.UploaderRole, Auditor: cfg.AuditorRole}}
	return &testPortal{srv: srv, server: s, sessions: sessions, logs: logs, tenant: tenant, db: db, simTime: simTime, trail: trail, tokens: captured, pages: &pageLog{}}
}

// browser is a cookie-keeping client that does not follow redirects, so each hop is visible.
type browser struct {
	tb     testing.TB
	client *http.Client
	base   string
	pages  *pageLog
}

func (p *testPortal) browser(tb testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{tb: tb, base: p.srv.URL, pages: p.pages, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	status int
	header http.Header
	body   string
	// redirectedFrom is the status of the POST whose 303 led here (0: no redirect).
	redirectedFrom int
	path           string // where the page was finally read
}

// seeOther follows a 303 the way a browser does after a form: a GET of the new address.
func (b *browser) seeOther(p page) page {
	b.tb.Helper()
	if p.status != http.StatusSeeOther {
		return p
	}
	loc := p.header.Get("Location")
	next := b.get(loc)
	next.redirectedFrom, next.path = p.status, loc
	return next
}

func (b *browser) do(method, target string, form url.Values, header map[string]string) page {
	b.tb.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.base + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.tb.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.tb.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if b.pages != nil {
		b.pages.add(string(raw))
	}
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

func (b *browser) get(target string) page { return b.do(http.MethodGet, target, nil, nil) }

// follow GETs target and follows redirects, returning the last page and its URL.
func (b *browser) follow(target string) (page, string) {
	b.tb.Helper()
	for range 10 {
		p := b.get(target)
		loc := p.header.Get("Location")
		if p.status < 300 || p.status > 399 || loc == "" {
			return p, target
		}
		if strings.HasPrefix(loc, "/") {
			loc = b.base + loc
		}
		target = loc
	}
	b.tb.Fatal("too many redirects")
	return page{}, ""
}

var authRequestIDPattern = regexp.MustCompile(`name="authRequestID" value="([^"]+)"`)

// MustSignIn walks the whole flow as a persona and returns the page it lands on.
func MustSignIn(tb testing.TB, b *browser, persona, returnTo string) (page, string) {
	tb.Helper()
	personaPage, personaURL := b.follow("/auth/login?return_to=" + url.QueryEscape(returnTo))
	m := authRequestIDPattern.FindStringSubmatch(personaPage.body)
	if m == nil {
		tb.Fatalf("no persona page at %s: %d %s", personaURL, personaPage.status, personaPage.body)
	}
	u, _ := url.Parse(personaURL)
	p := b.do(http.MethodPost, b.base+u.Path, url.Values{"authRequestID": {m[1]}, "persona": {persona}}, map[string]string{"Origin": b.base})
	loc := p.header.Get("Location")
	if loc == "" {
		tb.Fatalf("persona POST: %d %s", p.status, p.body)
	}
	if strings.HasPrefix(loc, "/") {
		loc = b.base + loc
	}
	return b.follow(loc)
}

var csrfPattern = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func csrfFrom(tb testing.TB, body string) string {
	tb.Helper()
	m := csrfPattern.FindStringSubmatch(body)
	if m == nil {
		tb.Fatal("page has no CSRF token")
	}
	return m[1]
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// echoContext gives a bare Echo context for tests of the error mapping.
func (p *testPortal) echoContext(w http.ResponseWriter, r *http.Request) echo.Context {
	return echo.New().NewContext(r, w)
}
