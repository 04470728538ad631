package graph

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const (
	testToken    = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-token-secret"
	refreshedTok = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.refreshed-token-secret"
	settingID    = "0f1e2d3c-4b5a-6978-8a9b-acbdcedf0011"
)

// fakeCreds counts calls so tests can hold the client to the one-refresh rule.
type fakeCreds struct {
	mu         sync.Mutex
	token      string
	refreshTo  string
	refreshErr error
	accesses   int
	refreshes  int
}

func newCreds() *fakeCreds { return &fakeCreds{token: testToken, refreshTo: refreshedTok} }

func (f *fakeCreds) AccessToken(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accesses++
	return f.token, nil
}

func (f *fakeCreds) Refresh(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refreshes++
	if f.refreshErr != nil {
		return "", f.refreshErr
	}
	f.token = f.refreshTo
	return f.token, nil
}

func (f *fakeCreds) Refreshes() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refreshes
}

// sleepRecorder replaces time.Sleep: tests assert the waits asked for and stay fast.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func (s *sleepRecorder) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// seenRequest is what the fake Graph saw of one request.
type seenRequest struct {
	Method           string
	RequestURI       string
	Header           http.Header
	Body             []byte
	ContentLength    int64
	TransferEncoding []string
}

// reply is one scripted answer. A nil body writes nothing.
type reply struct {
	status int
	header map[string]string
	body   string
}

// fakeGraph answers with replies in order, repeating the last one, and records requests.
type fakeGraph struct {
	*httptest.Server
	mu      sync.Mutex
	seen    []seenRequest
	replies []reply
	handle  func(w http.ResponseWriter, r *http.Request, n int)
}

// Handle replaces the scripted replies with h; n counts requests from 0.
func (g *fakeGraph) Handle(h func(w http.ResponseWriter, r *http.Request, n int)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.handle = h
}

func (g *fakeGraph) Seen() []seenRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]seenRequest(nil), g.seen...)
}

func MustFakeGraph(tb testing.TB, replies ...reply) *fakeGraph {
	tb.Helper()
	g := &fakeGraph{replies: replies}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			tb.Errorf("fake graph: reading body: %v", err)
		}
		g.mu.Lock()
		n := len(g.seen)
		g.seen = append(g.seen, seenRequest{
			Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: body,
			ContentLength: r.ContentLength, TransferEncoding: r.TransferEncoding,
		})
		handle := g.handle
		var rp reply
		if len(g.replies) > 0 {
			rp = g.replies[min(n, len(g.replies)-1)]
		}
		g.mu.Unlock()
		if handle != nil {
			handle(w, r, n)
			return
		}
		for k, v := range rp.header {
			if v == "" {
				w.Header()[k] = nil // suppresses net/http's own Date
				continue
			}
			w.Header().Set(k, v)
		}
		if rp.status == 0 {
			rp.status = http.StatusOK
		}
		w.WriteHeader(rp.status)
		_, _ = io.WriteString(w, rp.body)
	}))
	tb.Cleanup(g.Close)
	return g
}

// MustClient builds a client on baseURL with a recording sleep and mid-range jitter.
func MustClient(tb testing.TB, baseURL string, edit ...func(*Config)) (*Client, *sleepRecorder) {
	tb.Helper()
	rec := &sleepRecorder{}
	cfg := Config{
		BaseURL: baseURL + "/beta",
		Sleep:   rec.Sleep,
		Rand:    func() float64 { return 0.5 },
	}
	for _, f := range edit {
		f(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c, rec
}

// MustGraphError asserts err is a *Error of class want and returns it.
func MustGraphError(tb testing.TB, err error, want ErrorClass) *Error {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want class %s", want)
	}
	e, ok := errors.AsType[*Error](err)
	if !ok {
		tb.Fatalf("error %T (%v) is not a *graph.Error", err, err)
	}
	if got := e.Class(); got != want {
		tb.Fatalf("class = %s, want %s (error: %v)", got, want, err)
	}
	if !errors.Is(err, want) {
		tb.Fatalf("errors.Is(err, %s) = false", want)
	}
	return e
}
