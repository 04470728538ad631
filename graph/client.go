package graph

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

const (
	defaultBaseURL = "https://graph.microsoft.com/beta"
	defaultTimeout = 30 * time.Second

	// EncodingRaw sends the token file's text as it is (the file is 7-bit S/MIME text).
	EncodingRaw = "raw"
	// EncodingBase64 sends base64 of the file's bytes, which some MDM APIs (Jamf) expect.
	EncodingBase64 = "base64"

	maxAttempts = 3
	backoffBase = 500 * time.Millisecond
	backoffCap  = 8 * time.Second
	// A person is waiting on the other end of every call: a Retry-After longer than this is
	// better shown on the page ("try again in …") than slept through.
	maxRetryWait = time.Minute

	maxErrorBody   = 64 << 10
	maxSuccessBody = 8 << 20
	maxPages       = 100
)

// Credentials is the signed-in person's delegated Graph token (package auth implements it).
type Credentials interface {
	// AccessToken returns a currently valid access token, refreshing it if needed.
	AccessToken(ctx context.Context) (string, error)
	// Refresh forces a refresh; it is called once after Graph answered 401.
	Refresh(ctx context.Context) (string, error)
}

// Config configures a Client. The zero value talks to the public cloud's Graph beta.
type Config struct {
	// BaseURL is Graph's beta root, e.g. "https://graph.microsoft.us/beta" for GCC High.
	// It must be absolute https; plain http is accepted only for loopback hosts (the sandbox).
	BaseURL string
	// HTTPClient defaults to a client with dial, TLS and header timeouts that does not follow
	// redirects. A client given here is used as is, redirect policy included.
	HTTPClient *http.Client
	// Timeout bounds one Graph request, its retries included (each page of a list is one
	// request), when ctx has no sooner deadline.
	Timeout time.Duration
	// DepTokenEncoding is EncodingRaw (default) or EncodingBase64: Graph does not document
	// which one uploadDepToken wants, so it is the operator's choice.
	DepTokenEncoding string

	// Sleep waits between attempts; it must return early with ctx's error when ctx ends.
	// Tests inject it to record the waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for a Retry-After HTTP-date when the response carries no Date header.
	Now func() time.Time
	// Rand returns a number in [0, 1) for backoff jitter.
	Rand func() float64
	// Version goes into the User-Agent ("depportal/<Version>") so Microsoft support can tell
	// the portal's calls apart; "dev" when empty.
	Version string
	// Observe, when set, is told of every attempt: the operation (OpList, OpGet, …), the
	// HTTP status (0 when no answer came) and how long it took. Metrics hang off it.
	Observe func(op string, status int, d time.Duration)
}

// Operations named to Config.Observe.
const (
	OpList      = "list"
	OpGet       = "get"
	OpPublicKey = "publicKey"
	OpUpload    = "upload"
	OpSync      = "sync"
)

// Client calls Intune's depOnboardingSettings on Graph. It is safe for concurrent use.
type Client struct {
	base      *url.URL
	hc        *http.Client
	timeout   time.Duration
	encoding  string
	userAgent string
	sleep     func(context.Context, time.Duration) error
	observe   func(op string, status int, d time.Duration)
	now       func() time.Time
	rand      func() float64
}

// CloseIdleConnections closes the connections kept for the next call. The portal calls it
// when it shuts down: a connection dialled but never used keeps a server (the sandbox's, in
// the same process) waiting five seconds before it counts as idle.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// CallInfo describes the last attempt of a Graph call: what the result page and the audit
// trail show, and what Microsoft support asks for.
type CallInfo struct {
	RequestID       string        // Graph's request-id
	ClientRequestID string        // the GUID we sent as client-request-id
	Date            string        // the response's Date (or innerError date)
	Status          int           // HTTP status; 0 when no response arrived
	Duration        time.Duration // of the last attempt
	Attempts        int           // attempts made, 401 refresh retry included
}

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	c := &Client{
		base:      base,
		hc:        cfg.HTTPClient,
		timeout:   cfg.Timeout,
		encoding:  cfg.DepTokenEncoding,
		userAgent: "depportal/" + cmp.Or(cfg.Version, "dev"),
		sleep:     cfg.Sleep,
		now:       cfg.Now,
		rand:      cfg.Rand,
		observe:   cfg.Observe,
	}
	switch c.encoding {
	case "":
		c.encoding = EncodingRaw
	case EncodingRaw, EncodingBase64:
	default:
		return nil, fmt.Errorf("graph: DepTokenEncoding %q: want %q or %q", cfg.DepTokenEncoding, EncodingRaw, EncodingBase64)
	}
	if c.timeout < 0 {
		return nil, fmt.Errorf("graph: Timeout %v is negative", c.timeout)
	}
	if c.timeout == 0 {
		c.timeout = defaultTimeout
	}
	if c.hc == nil {
		c.hc = defaultHTTPClient()
	}
	if c.sleep == nil {
		c.sleep = sleepContext
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	return c, nil
}

func parseBaseURL(s string) (*url.URL, error) {
	if s == "" {
		s = defaultBaseURL
	}
	u, err := url.Parse(strings.TrimRight(s, "/"))
	if err != nil {
		return nil, errors.New("graph: BaseURL is not a URL")
	}
	bad := func(why string) (*url.URL, error) {
		return nil, fmt.Errorf("graph: BaseURL %q: %s", u.Redacted(), why)
	}
	switch {
	case !u.IsAbs() || u.Host == "" || u.Opaque != "":
		return bad("must be an absolute URL such as " + defaultBaseURL)
	case u.User != nil:
		return bad("must not carry credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return bad("must not have a query or fragment")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	case u.Scheme == "http":
		return bad("plain http is allowed only for loopback hosts: the access token travels in every request")
	default:
		return bad("scheme must be https")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func defaultHTTPClient() *http.Client {
	t, ok := http.DefaultTransport.(*http.Transport)
	if ok {
		t = t.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 10 * time.Second
	// A backstop for callers that configure a very long Timeout.
	t.ResponseHeaderTimeout = 2 * time.Minute
	t.MaxIdleConnsPerHost = 16
	return &http.Client{
		Transport: t,
		// Graph does not redirect these calls; following one would resend a token file and
		// possibly the bearer token to a place nobody configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// request is one Graph call, repeated as is on each attempt.
type request struct {
	op     string // for Config.Observe
	method string
	url    *url.URL
	body   []byte // nil: no body
	// unknownOutcome is the message for a write (upload, sync) whose effect is unknown: its
	// answer never came, or it was a 5xx. Empty for reads.
	unknownOutcome string
}

// write reports whether repeating rq could repeat an effect in Intune. A request that is
// not a GET or HEAD counts as a write even without an unknownOutcome message: when in doubt,
// do not resend.
func (rq request) write() bool {
	return rq.unknownOutcome != "" || (rq.method != http.MethodGet && rq.method != http.MethodHead)
}

func (rq request) unknownOutcomeMessage() string {
	if rq.unknownOutcome != "" {
		return rq.unknownOutcome
	}
	return "the request may or may not have reached Microsoft Graph"
}

// endpoint joins an already escaped path to the base URL. url.JoinPath is not used because
// it cleans "..", which would let an id climb out of the collection.
func (c *Client) endpoint(escapedPath string) *url.URL {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + escapedPath
	p, err := url.PathUnescape(u.RawPath)
	if err != nil { // cannot happen: both parts come from EscapedPath and PathEscape
		p = u.RawPath
	}
	u.Path = p
	return &u
}

// do runs one Graph call: it gets a token, makes up to maxAttempts attempts, refreshes the
// token once after a 401 and decodes a 2xx JSON body into out (when out is not nil).
// Every error it returns is a *Error carrying the CallInfo of the last attempt.
//
// A read is repeated after 429, 503, 504 and transport failures. A write is repeated only
// when Graph provably did not act: after a 429, after a transport failure before the
// request was written, and once with a refreshed token after a 401. Any other answer that
// is not 2xx or 4xx, or no answer, ends a write with ClassOutcomeUnknown. A write's 2xx is
// success even when its body cannot be decoded into out: Intune acted.
func (c *Client) do(ctx context.Context, cred Credentials, rq request, out any) (CallInfo, error) {
	if cred == nil {
		return CallInfo{}, &Error{Message: "no Graph credentials: sign in again", class: ClassUnauthorized}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	token, err := cred.AccessToken(ctx)
	if err != nil {
		return CallInfo{}, &Error{Message: "could not get a Graph access token: sign in again", Err: err, class: ClassUnauthorized}
	}
	refreshed := false
	for attempt := 1; ; attempt++ {
		o := c.attempt(ctx, rq, token, out)
		o.info.Attempts = attempt
		if c.observe != nil {
			c.observe(rq.op, o.info.Status, o.info.Duration)
		}
		if o.err == nil {
			return o.info, nil
		}
		e := o.err
		e.Call = o.info
		if attempt >= maxAttempts {
			return e.Call, e
		}
		if e.Status == http.StatusUnauthorized && e.Class() == ClassUnauthorized {
			// One refresh covers a token that expired or was revoked in flight; a second
			// 401 means the sign-in itself is no good, and only the person can fix that.
			if refreshed {
				return e.Call, e
			}
			refreshed = true
			t, err := cred.Refresh(ctx)
			if err != nil {
				e.Err = err
				return e.Call, e
			}
			token = t
			continue
		}
		if !o.retryable || ctx.Err() != nil {
			return e.Call, e
		}
		wait := e.RetryAfter
		if wait <= 0 {
			wait = c.backoff(attempt)
		}
		if wait > maxRetryWait {
			return e.Call, e
		}
		// Sleeping into the deadline would only trade Graph's answer for a timeout.
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
			return e.Call, e
		}
		if err := c.sleep(ctx, wait); err != nil {
			return e.Call, e
		}
	}
}

// backoff is exponential with full jitter, so that many browsers throttled at once do not
// come back in step.
func (c *Client) backoff(attempt int) time.Duration {
	ceiling := backoffCap
	if attempt < 8 {
		ceiling = min(backoffBase<<(attempt-1), backoffCap)
	}
	return time.Duration(c.rand() * float64(ceiling))
}

type outcome struct {
	info CallInfo
	err  *Error // nil on success
	// retryable: the attempt may be repeated (after a wait). For a read: Graph answered
	// 429/503/504, or no answer came. For a write only when Graph provably did not act on
	// it: it answered 429, or the request never fully left (sendTrace.notSent). A 5xx or a
	// lost answer to a write is never retryable: Intune may have acted. (The one refresh
	// after a 401 is do's own decision, not this flag.)
	retryable bool
}

func (c *Client) attempt(ctx context.Context, rq request, token string, out any) outcome {
	info := CallInfo{ClientRequestID: uuid.NewString()}
	var trace sendTrace
	var body io.Reader
	if rq.body != nil {
		// A bytes.Reader gives the request an exact ContentLength (and GetBody): some Intune
		// front ends reject chunked bodies.
		body = bytes.NewReader(rq.body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace.clientTrace()), rq.method, rq.url.String(), body)
	if err != nil {
		return outcome{info: info, err: &Error{Message: "could not build the Graph request", Err: err, ClientRequestID: info.ClientRequestID, class: ClassOther}}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("client-request-id", info.ClientRequestID)
	req.Header.Set("return-client-request-id", "true")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if rq.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		info.Duration = time.Since(start)
		return c.transportFailure(rq, info, &trace, err)
	}
	defer func() {
		// Draining a little lets the connection be reused; a huge body is not worth it.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
	}()
	info.Status = resp.StatusCode
	info.RequestID = resp.Header.Get("request-id")
	info.Date = resp.Header.Get("Date")

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		if out == nil {
			info.Duration = time.Since(start)
			return outcome{info: info}
		}
		o := decodeSuccess(resp, out)
		info.Duration = time.Since(start)
		o.info = info
		if o.err != nil && rq.write() {
			// Intune acted; a page must not say otherwise, and a retry would act again.
			return outcome{info: info}
		}
		if o.err != nil {
			o.err.Status = info.Status
			o.err.RequestID, o.err.ClientRequestID, o.err.Date = info.RequestID, info.ClientRequestID, info.Date
		}
		return o
	}

	e := parseError(resp, c.now)
	info.Duration = time.Since(start)
	if info.RequestID == "" {
		info.RequestID = e.RequestID
	}
	if info.Date == "" {
		info.Date = e.Date
	}
	if e.ClientRequestID == "" {
		e.ClientRequestID = info.ClientRequestID
	}
	e.RequestID, e.Date = info.RequestID, info.Date
	if rq.write() {
		// Only a 4xx proves that nothing changed; of those, only 429 is worth repeating.
		// A 5xx (a gateway that stopped waiting, a failure after the work) or an unexpected
		// 3xx leaves the write's effect unknown.
		if !isClientError(resp.StatusCode) {
			e.class = ClassOutcomeUnknown
		}
		return outcome{info: info, err: e, retryable: resp.StatusCode == http.StatusTooManyRequests}
	}
	retryable := resp.StatusCode == http.StatusTooManyRequests ||
		resp.StatusCode == http.StatusServiceUnavailable ||
		resp.StatusCode == http.StatusGatewayTimeout
	return outcome{info: info, err: e, retryable: retryable}
}

// decodeSuccess reads a 2xx body into out. Its errors only count for reads: attempt turns a
// write's 2xx into success whatever the body.
func decodeSuccess(resp *http.Response, out any) outcome {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxSuccessBody+1))
	if err != nil {
		return outcome{
			err:       &Error{Message: "the connection to Microsoft Graph broke while reading its answer", Err: err, class: ClassUnavailable},
			retryable: true,
		}
	}
	if len(raw) > maxSuccessBody {
		return outcome{err: &Error{Message: fmt.Sprintf("Microsoft Graph answered with more than %d bytes", maxSuccessBody), class: ClassOther}}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return outcome{err: &Error{Message: "Microsoft Graph answered with a body that is not the expected JSON", Err: err, class: ClassOther}}
	}
	return outcome{}
}

func isClientError(status int) bool { return status >= 400 && status < 500 }

// transportFailure classifies a call that got no HTTP response. A read may be repeated. A
// write is either provably not sent (no connection was ever made, or writing it failed), and
// may then be repeated, or its outcome is unknown: Intune may have acted on it, so it must
// not be repeated blindly.
func (c *Client) transportFailure(rq request, info CallInfo, trace *sendTrace, err error) outcome {
	e := &Error{ClientRequestID: info.ClientRequestID, Err: err, class: ClassUnavailable}
	switch {
	case !rq.write():
		e.Message = "Microsoft Graph could not be reached"
		return outcome{info: info, err: e, retryable: true}
	case trace.notSent():
		e.Message = "Microsoft Graph could not be reached; nothing was sent"
		return outcome{info: info, err: e, retryable: true}
	default:
		e.Message = rq.unknownOutcomeMessage()
		e.class = ClassOutcomeUnknown
	}
	return outcome{info: info, err: e}
}

// sendTrace records how far net/http got with a request. Its callbacks may run on the
// transport's goroutines, hence the atomics.
type sendTrace struct {
	getConn, gotConn, wrote, writeFailed atomic.Bool
}

func (s *sendTrace) clientTrace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(string) { s.getConn.Store(true) },
		GotConn: func(httptrace.GotConnInfo) { s.gotConn.Store(true) },
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err != nil {
				s.writeFailed.Store(true)
			} else {
				s.wrote.Store(true)
			}
		},
	}
}

// notSent reports positive evidence that the server cannot have received the whole request.
// Without trace events (a custom RoundTripper that ignores them) the answer is false: when in
// doubt, the outcome is unknown.
func (s *sendTrace) notSent() bool {
	if s.wrote.Load() {
		return false
	}
	return s.writeFailed.Load() || (s.getConn.Load() && !s.gotConn.Load())
}
