package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/sandbox"
)

// testPortal is the real portal, started through app as main starts it, in sandbox mode on a
// port of its own.
type testPortal struct {
	app     *app.App
	url     string // its origin, http://127.0.0.1:port
	logs    *testkit.LogBuffer
	tenant  *sandbox.Tenant
	simTime *atomic.Int64 // time spent inside the Intune simulator's handler
	tokens  *tokenCapture // every token the provider issued, for leak tests
	pages   *pageLog      // every page body the test browsers received

	mu      sync.Mutex
	clients []*http.Client // closed before the portal stops
}

// tokenCapture records the tokens the provider's token endpoint hands out.
type tokenCapture struct {
	transport *http.Transport
	mu        sync.Mutex
	tokens    []string
}

func (c *tokenCapture) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.transport.RoundTrip(r)
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

// newTestPortal starts the portal with env as its environment (nil: the sandbox defaults).
func newTestPortal(tb testing.TB, env map[string]string) *testPortal {
	tb.Helper()
	return newTestPortalWith(tb, env, nil)
}

// newTestPortalWith starts the portal after tune has set the app's test options, and stops it
// when the test ends: cancel, then wait for Run to return (requests finished, last audit
// checkpoint signed, database closed).
func newTestPortalWith(tb testing.TB, env map[string]string, tune func(*app.Options)) *testPortal {
	tb.Helper()
	if !app.HasSandbox {
		tb.Skip("this build has no sandbox tenant (-tags nosandbox); the handler tests sign in through it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	if err := sandbox.SeedDataDir(dir); err != nil {
		tb.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	vars := map[string]string{"DEPPORTAL_DATA_DIR": dir, "DEPPORTAL_PUBLIC_URL": base}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		ln.Close()
		tb.Fatal(err)
	}

	p := &testPortal{url: base, logs: &testkit.LogBuffer{}, simTime: &atomic.Int64{}, pages: &pageLog{}}
	p.tokens = &tokenCapture{transport: http.DefaultTransport.(*http.Transport).Clone()}
	signInClient := &http.Client{Transport: p.tokens}
	graphClient := &http.Client{
		Transport:     http.DefaultTransport.(*http.Transport).Clone(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ready := &http.Client{Timeout: 2 * time.Second}
	p.clients = append(p.clients, signInClient, graphClient, ready)
	opts := app.Options{
		Logs:             p.logs,
		SignInHTTPClient: signInClient,
		GraphHTTPClient:  graphClient,
		ReconcileDelays:  []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond},
		Sandbox: app.SandboxOptions{Wrap: func(tenant http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				start := time.Now()
				tenant.ServeHTTP(w, r)
				if strings.HasPrefix(r.URL.Path, "/_sandbox/graph/") {
					p.simTime.Add(int64(time.Since(start)))
				}
			})
		}},
	}
	if tune != nil {
		tune(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, opts)
	if err != nil {
		cancel()
		ln.Close()
		tb.Fatal(err)
	}
	p.app, p.tenant = a, tenantOf(a)
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	tb.Cleanup(func() {
		// A client's spare connection on which no request was sent would hold the shutdown for
		// the 5 s net/http gives a new connection.
		p.mu.Lock()
		for _, c := range p.clients {
			c.CloseIdleConnections()
		}
		p.mu.Unlock()
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("portal stopped with: %v\n%s", err, p.logs)
		}
	})
	mustBeReady(tb, ready, base, done)
	return p
}

// mustBeReady waits for /readyz: the database answers and the provider's discovery is loaded.
func mustBeReady(tb testing.TB, client *http.Client, base string, done chan error) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(base + "/readyz")
		last := ""
		if err != nil {
			last = err.Error()
		} else {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		}
		if time.Now().After(deadline) {
			tb.Fatalf("portal not ready after 20 s: %s", last)
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			tb.Fatalf("portal stopped before it was ready: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// browser is a cookie-keeping client for this portal that shows every hop; the pages it
// receives are kept for the leak test.
func (p *testPortal) browser(tb testing.TB) *testkit.Browser {
	b := testkit.NewBrowser(tb, p.url)
	b.Seen = p.pages.add
	p.mu.Lock()
	p.clients = append(p.clients, b.Client)
	p.mu.Unlock()
	return b
}

func csrfFrom(tb testing.TB, body string) string {
	tb.Helper()
	token, ok := testkit.CSRFToken(body)
	if !ok {
		tb.Fatal("page has no CSRF token")
	}
	return token
}

func csrfOrEmpty(body string) string {
	token, _ := testkit.CSRFToken(body)
	return token
}

// logLineOf is the access log line of the request that got requestID.
func (p *testPortal) logLineOf(tb testing.TB, requestID string) string {
	tb.Helper()
	for _, line := range p.logs.Lines() {
		if strings.Contains(line, "msg=request ") && strings.Contains(line, "request_id="+requestID+" ") {
			return line
		}
	}
	tb.Fatalf("no access log line for request %s:\n%s", requestID, p.logs)
	return ""
}
