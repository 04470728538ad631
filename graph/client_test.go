package graph

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
)

// tokenFile looks like an ABM download: S/MIME headers, a blank line, wrapped base64.
const tokenFile = "Content-Type: application/pkcs7-mime; name=\"smime.p7m\"; smime-type=enveloped-data\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n" +
	"Content-Description: S/MIME Encrypted Message\r\n\r\n" +
	"MIAGCSqGSIb3DQEHA6CAMIACAQAxggFAMIIBPAIBADAkMBYxFDASBgNVBAMMC1NFQ1JFVC1GSUxF\r\n" +
	"AgoAAAAAAAAAAAAAAgYJKoZIhvcNAQEBBQAEggEAc2VjcmV0LXRva2VuLWNvbnRlbnQ=\r\n"

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cfg Config
		ok  bool
	}{
		{Config{}, true},
		{Config{BaseURL: "https://graph.microsoft.us/beta/"}, true},
		{Config{BaseURL: "http://127.0.0.1:8080/_sandbox/graph/beta"}, true},
		{Config{BaseURL: "http://localhost:8080/_sandbox/graph/beta"}, true},
		{Config{BaseURL: "http://[::1]:8080/beta"}, true},
		{Config{BaseURL: "http://graph.microsoft.com/beta"}, false},
		{Config{BaseURL: "graph.microsoft.com/beta"}, false},
		{Config{BaseURL: "/beta"}, false},
		{Config{BaseURL: "ftp://graph.microsoft.com/beta"}, false},
		{Config{BaseURL: "https://user:pass@graph.microsoft.com/beta"}, false},
		{Config{BaseURL: "https://graph.microsoft.com/beta?x=1"}, false},
		{Config{BaseURL: "https://graph.microsoft.com/beta#f"}, false},
		{Config{BaseURL: "https://graph.microsoft.com/%zz"}, false},
		{Config{DepTokenEncoding: "raw"}, true},
		{Config{DepTokenEncoding: "base64"}, true},
		{Config{DepTokenEncoding: "hex"}, false},
		{Config{Timeout: -time.Second}, false},
	}
	for _, tt := range tests {
		c, err := New(tt.cfg)
		if (err == nil) != tt.ok {
			t.Errorf("New(%+v) error = %v, want ok=%v", tt.cfg, err, tt.ok)
		}
		if err != nil && strings.Contains(err.Error(), "pass") {
			t.Errorf("error %q repeats a credential from the URL", err)
		}
		if err == nil && strings.HasSuffix(c.base.Path, "/") {
			t.Errorf("base path %q keeps a trailing slash", c.base.Path)
		}
	}
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 200, header: map[string]string{"request-id": requestID}, body: `{"id":"` + settingID + `"}`})
	c, _ := MustClient(t, g.URL)
	if _, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID); err != nil {
		t.Fatal(err)
	}
	r := g.Seen()[0]
	if r.Method != http.MethodGet || r.RequestURI != "/beta/deviceManagement/depOnboardingSettings/"+settingID {
		t.Errorf("request = %s %s", r.Method, r.RequestURI)
	}
	want := map[string]string{
		"Authorization":            "Bearer " + testToken,
		"Accept":                   "application/json",
		"User-Agent":               "depportal/dev",
		"Return-Client-Request-Id": "true",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if _, err := uuid.Parse(r.Header.Get("client-request-id")); err != nil {
		t.Errorf("client-request-id %q is not a GUID", r.Header.Get("client-request-id"))
	}
	if r.Header.Get("Content-Type") != "" {
		t.Errorf("a GET carries Content-Type %q", r.Header.Get("Content-Type"))
	}
}

func TestFreshClientRequestIDPerAttempt(t *testing.T) {
	t.Parallel()
	// 429 is what a write may be repeated after.
	g := MustFakeGraph(t, reply{status: 429}, reply{status: 429}, reply{status: 204, header: map[string]string{"request-id": requestID}})
	c, _ := MustClient(t, g.URL)
	info, err := c.SyncWithApple(t.Context(), newCreds(), settingID)
	if err != nil {
		t.Fatal(err)
	}
	seen := g.Seen()
	if len(seen) != 3 {
		t.Fatalf("%d requests, want 3", len(seen))
	}
	ids := map[string]bool{}
	for _, r := range seen {
		ids[r.Header.Get("client-request-id")] = true
	}
	if len(ids) != 3 {
		t.Errorf("client-request-ids %v are not all different", ids)
	}
	last := seen[2].Header.Get("client-request-id")
	if info.ClientRequestID != last || info.Attempts != 3 || info.Status != 204 || info.RequestID != requestID {
		t.Errorf("CallInfo = %+v, want the last attempt (%s), 3 attempts, 204", info, last)
	}
}

func TestUploadSendsContentLengthNotChunked(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 204})
	c, _ := MustClient(t, g.URL)
	info, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "abm-admin@example.com", []byte(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	r := g.Seen()[0]
	if r.Method != http.MethodPost || r.RequestURI != "/beta/deviceManagement/depOnboardingSettings/"+settingID+"/uploadDepToken" {
		t.Errorf("request = %s %s", r.Method, r.RequestURI)
	}
	if r.ContentLength <= 0 || r.ContentLength != int64(len(r.Body)) {
		t.Errorf("ContentLength = %d for a %d-byte body", r.ContentLength, len(r.Body))
	}
	if len(r.TransferEncoding) != 0 || r.Header.Get("Transfer-Encoding") != "" {
		t.Errorf("Transfer-Encoding = %v: the body was chunked", r.TransferEncoding)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if info.Status != 204 || info.Attempts != 1 {
		t.Errorf("CallInfo = %+v", info)
	}
}

func TestUploadBody(t *testing.T) {
	t.Parallel()
	file := []byte(tokenFile)
	for _, tt := range []struct {
		encoding string
		want     string
	}{
		{"", tokenFile},
		{EncodingRaw, tokenFile},
		{EncodingBase64, base64.StdEncoding.EncodeToString(file)},
	} {
		t.Run("encoding="+tt.encoding, func(t *testing.T) {
			g := MustFakeGraph(t, reply{status: 204})
			c, _ := MustClient(t, g.URL, func(cfg *Config) { cfg.DepTokenEncoding = tt.encoding })
			if _, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "abm-admin@example.com", file); err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			if err := json.Unmarshal(g.Seen()[0].Body, &body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range body {
					if !yield(k) {
						return
					}
				}
			})
			if !slices.Equal(keys, []string{"appleId", "depToken"}) {
				t.Errorf("body fields = %v, want exactly appleId and depToken", keys)
			}
			if body["appleId"] != "abm-admin@example.com" {
				t.Errorf("appleId = %v", body["appleId"])
			}
			if body["depToken"] != tt.want {
				t.Errorf("depToken = %.60q…, want %.60q…", body["depToken"], tt.want)
			}
		})
	}
}

func TestBadInputSendsNothing(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 204})
	c, _ := MustClient(t, g.URL)
	ctx, cred := t.Context(), newCreds()
	calls := map[string]func() error{
		"empty id": func() error {
			_, err := c.UploadDepToken(ctx, cred, "", "a@example.com", []byte(tokenFile))
			return err
		},
		"dot-dot id":     func() error { _, err := c.GetOnboardingSetting(ctx, cred, ".."); return err },
		"dot id":         func() error { _, err := c.GetEncryptionPublicKey(ctx, cred, "."); return err },
		"empty Apple ID": func() error { _, err := c.UploadDepToken(ctx, cred, settingID, " ", []byte(tokenFile)); return err },
		"empty file":     func() error { _, err := c.UploadDepToken(ctx, cred, settingID, "a@example.com", nil); return err },
		"binary file": func() error {
			_, err := c.UploadDepToken(ctx, cred, settingID, "a@example.com", []byte{0x30, 0x80, 0xff, 0xfe})
			return err
		},
		"empty sync id": func() error { _, err := c.SyncWithApple(ctx, cred, ""); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			MustGraphError(t, call(), ClassOther)
		})
	}
	if n := len(g.Seen()); n != 0 {
		t.Errorf("%d requests were sent for bad input", n)
	}
}

func TestIDIsPathEscaped(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 200, body: `{"value":"-----BEGIN CERTIFICATE-----MIIB-----END CERTIFICATE-----"}`})
	c, _ := MustClient(t, g.URL)
	if _, err := c.GetEncryptionPublicKey(t.Context(), newCreds(), "a/../b?c=d#e f"); err != nil {
		t.Fatal(err)
	}
	want := "/beta/deviceManagement/depOnboardingSettings/a%2F..%2Fb%3Fc=d%23e%20f/getEncryptionPublicKey"
	if got := g.Seen()[0].RequestURI; got != want {
		t.Errorf("RequestURI = %q, want %q", got, want)
	}
}

func TestSyncWithAppleSendsBodilessPOST(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 204})
	c, _ := MustClient(t, g.URL)
	if _, err := c.SyncWithApple(t.Context(), newCreds(), settingID); err != nil {
		t.Fatal(err)
	}
	r := g.Seen()[0]
	if r.Method != http.MethodPost || r.RequestURI != "/beta/deviceManagement/depOnboardingSettings/"+settingID+"/syncWithAppleDeviceEnrollmentProgram" {
		t.Errorf("request = %s %s", r.Method, r.RequestURI)
	}
	if r.ContentLength != 0 || len(r.Body) != 0 || len(r.TransferEncoding) != 0 {
		t.Errorf("ContentLength %d, body %d bytes, Transfer-Encoding %v", r.ContentLength, len(r.Body), r.TransferEncoding)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t,
		reply{status: 429, header: map[string]string{"Retry-After": "7"}, body: graphBody("TooManyRequests", "slow down")},
		reply{status: 204},
	)
	c, sleep := MustClient(t, g.URL)
	info, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
	if err != nil {
		t.Fatal(err)
	}
	if got := sleep.Waits(); !slices.Equal(got, []time.Duration{7 * time.Second}) {
		t.Errorf("waits = %v, want [7s]", got)
	}
	seen := g.Seen()
	if info.Attempts != 2 || len(seen) != 2 {
		t.Fatalf("attempts = %d, requests = %d, want 2", info.Attempts, len(seen))
	}
	if string(seen[0].Body) != string(seen[1].Body) || seen[1].ContentLength != int64(len(seen[1].Body)) {
		t.Error("the retried POST did not resend the same body with its Content-Length")
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	serverNow := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	t.Run("against the response Date", func(t *testing.T) {
		g := MustFakeGraph(t,
			reply{status: 503, header: map[string]string{"Date": serverNow.Format(http.TimeFormat), "Retry-After": serverNow.Add(9 * time.Second).Format(http.TimeFormat)}},
			reply{status: 200, body: `{"value":[]}`},
		)
		c, sleep := MustClient(t, g.URL)
		if _, err := c.ListOnboardingSettings(t.Context(), newCreds()); err != nil {
			t.Fatal(err)
		}
		if got := sleep.Waits(); !slices.Equal(got, []time.Duration{9 * time.Second}) {
			t.Errorf("waits = %v, want [9s]", got)
		}
	})
	t.Run("against the local clock without Date", func(t *testing.T) {
		g := MustFakeGraph(t,
			reply{status: 503, header: map[string]string{"Date": "", "Retry-After": serverNow.Add(4 * time.Second).Format(http.TimeFormat)}},
			reply{status: 200, body: `{"value":[]}`},
		)
		c, sleep := MustClient(t, g.URL, func(cfg *Config) { cfg.Now = func() time.Time { return serverNow } })
		if _, err := c.ListOnboardingSettings(t.Context(), newCreds()); err != nil {
			t.Fatal(err)
		}
		if got := sleep.Waits(); !slices.Equal(got, []time.Duration{4 * time.Second}) {
			t.Errorf("waits = %v, want [4s]", got)
		}
	})
}

func TestRetryCapIsThreeAttemptsWithJitteredBackoff(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 504, body: graphBody("GatewayTimeout", "The gateway timed out")})
	c, sleep := MustClient(t, g.URL) // Rand = 0.5
	_, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID)
	e := MustGraphError(t, err, ClassUnavailable)
	if n := len(g.Seen()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if e.Call.Attempts != 3 || e.Call.Status != 504 {
		t.Errorf("Call = %+v", e.Call)
	}
	// Full jitter: half of 500 ms, then half of 1 s.
	if got := sleep.Waits(); !slices.Equal(got, []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}) {
		t.Errorf("waits = %v, want [250ms 500ms]", got)
	}
}

// TestRetriesByStatusAndMethod holds the retry rule: a write (upload, sync) is resent only
// when Graph provably did not act (429, a refused sign-in, nothing sent); a 5xx or any other
// answer that is not 2xx/4xx leaves its outcome unknown. Reads retry 429/503/504 as before.
// Every failing reply is followed by a 2xx, so a wrong retry shows up as a success.
func TestRetriesByStatusAndMethod(t *testing.T) {
	t.Parallel()
	ids := map[string]string{"request-id": requestID}
	html := func(status int) string {
		return fmt.Sprintf("<html><head><title>%d %s</title></head><body><h1>%[1]d %[2]s</h1></body></html>", status, http.StatusText(status))
	}
	type call struct {
		name string
		do   func(c *Client, ctx context.Context) (CallInfo, error)
	}
	upload := call{"upload", func(c *Client, ctx context.Context) (CallInfo, error) {
		return c.UploadDepToken(ctx, newCreds(), settingID, "a@example.com", []byte(tokenFile))
	}}
	sync := call{"sync", func(c *Client, ctx context.Context) (CallInfo, error) {
		return c.SyncWithApple(ctx, newCreds(), settingID)
	}}
	get := call{"get", func(c *Client, ctx context.Context) (CallInfo, error) {
		_, err := c.GetOnboardingSetting(ctx, newCreds(), settingID)
		return CallInfo{}, err
	}}
	tests := []struct {
		name     string
		call     call
		first    reply
		class    ErrorClass // "" when the call ends in success
		attempts int
		waits    []time.Duration
		code     string // Graph's error.code, kept on the *Error
	}{
		// Writes: a 5xx may come after Intune acted.
		{name: "500 JSON", call: upload, first: reply{status: 500, header: ids, body: intuneBody("InternalServerError", "An internal server error has occurred")}, class: ClassOutcomeUnknown, attempts: 1, code: "InternalServerError"},
		{name: "500 HTML", call: upload, first: reply{status: 500, header: ids, body: html(500)}, class: ClassOutcomeUnknown, attempts: 1},
		{name: "502 JSON", call: upload, first: reply{status: 502, header: ids, body: graphBody("BadGateway", "Bad gateway")}, class: ClassOutcomeUnknown, attempts: 1, code: "BadGateway"},
		{name: "502 HTML", call: upload, first: reply{status: 502, header: ids, body: html(502)}, class: ClassOutcomeUnknown, attempts: 1},
		{name: "503 JSON", call: upload, first: reply{status: 503, header: ids, body: intuneBody("ServiceUnavailable", "busy")}, class: ClassOutcomeUnknown, attempts: 1, code: "ServiceUnavailable"},
		{name: "503 HTML", call: upload, first: reply{status: 503, header: ids, body: html(503)}, class: ClassOutcomeUnknown, attempts: 1},
		{name: "503 with Retry-After", call: upload, first: reply{status: 503, header: map[string]string{"request-id": requestID, "Retry-After": "1"}, body: graphBody("ServiceUnavailable", "busy")}, class: ClassOutcomeUnknown, attempts: 1, code: "ServiceUnavailable"},
		{name: "504 JSON", call: upload, first: reply{status: 504, header: ids, body: graphBody("GatewayTimeout", "The gateway timed out")}, class: ClassOutcomeUnknown, attempts: 1, code: "GatewayTimeout"},
		{name: "504 HTML", call: upload, first: reply{status: 504, header: ids, body: html(504)}, class: ClassOutcomeUnknown, attempts: 1},
		{name: "504 empty", call: upload, first: reply{status: 504, header: ids}, class: ClassOutcomeUnknown, attempts: 1},
		{name: "507", call: upload, first: reply{status: 507, header: ids, body: "Insufficient Storage"}, class: ClassOutcomeUnknown, attempts: 1},
		{name: "501 JSON", call: upload, first: reply{status: 501, header: ids, body: graphBody("NotImplemented", "Not implemented")}, class: ClassOutcomeUnknown, attempts: 1, code: "NotImplemented"},
		{name: "307 not followed", call: upload, first: reply{status: 307, header: map[string]string{"request-id": requestID, "Location": "/elsewhere"}}, class: ClassOutcomeUnknown, attempts: 1},
		{name: "503 JSON", call: sync, first: reply{status: 503, header: ids, body: graphBody("ServiceUnavailable", "busy")}, class: ClassOutcomeUnknown, attempts: 1, code: "ServiceUnavailable"},
		{name: "504 HTML", call: sync, first: reply{status: 504, header: ids, body: html(504)}, class: ClassOutcomeUnknown, attempts: 1},
		// Writes: a 4xx proves nothing changed; only 429 is worth repeating.
		{name: "429 Retry-After", call: upload, first: reply{status: 429, header: map[string]string{"Retry-After": "3"}, body: graphBody("TooManyRequests", "slow down")}, attempts: 2, waits: []time.Duration{3 * time.Second}},
		{name: "429 no Retry-After", call: sync, first: reply{status: 429, body: graphBody("TooManyRequests", "slow down")}, attempts: 2, waits: []time.Duration{250 * time.Millisecond}},
		{name: "400", call: upload, first: reply{status: 400, header: ids, body: intuneBody("BadRequest", "The DEP token is invalid")}, class: ClassRejected, attempts: 1, code: "BadRequest"},
		{name: "403", call: upload, first: reply{status: 403, header: ids, body: intuneBody("Forbidden", "An error has occurred")}, class: ClassMissingIntuneRole, attempts: 1, code: "Forbidden"},
		{name: "404", call: upload, first: reply{status: 404, header: ids, body: intuneBody("ResourceNotFound", "An error has occurred")}, class: ClassNotFound, attempts: 1, code: "ResourceNotFound"},
		{name: "409", call: sync, first: reply{status: 409, header: ids, body: graphBody("Conflict", "A sync is already in progress")}, class: ClassOther, attempts: 1, code: "Conflict"},
		// Reads keep their retries.
		{name: "503", call: get, first: reply{status: 503, header: ids, body: graphBody("ServiceUnavailable", "busy")}, attempts: 2, waits: []time.Duration{250 * time.Millisecond}},
		{name: "504", call: get, first: reply{status: 504, header: ids, body: html(504)}, attempts: 2, waits: []time.Duration{250 * time.Millisecond}},
		{name: "429", call: get, first: reply{status: 429, header: map[string]string{"Retry-After": "2"}}, attempts: 2, waits: []time.Duration{2 * time.Second}},
		{name: "500", call: get, first: reply{status: 500, header: ids, body: html(500)}, class: ClassUnavailable, attempts: 1},
		{name: "502", call: get, first: reply{status: 502, header: ids, body: graphBody("BadGateway", "Bad gateway")}, class: ClassUnavailable, attempts: 1, code: "BadGateway"},
	}
	for _, tt := range tests {
		t.Run(tt.call.name+" "+tt.name, func(t *testing.T) {
			g := MustFakeGraph(t, tt.first, reply{status: 200, body: `{"id":"` + settingID + `"}`})
			c, sleep := MustClient(t, g.URL)
			_, err := tt.call.do(c, t.Context())
			if n := len(g.Seen()); n != tt.attempts {
				t.Errorf("%d requests reached Graph, want %d", n, tt.attempts)
			}
			if got := sleep.Waits(); !slices.Equal(got, tt.waits) {
				t.Errorf("waits = %v, want %v", got, tt.waits)
			}
			if tt.class == "" {
				if err != nil {
					t.Fatalf("err = %v, want success after a retry", err)
				}
				return
			}
			e := MustGraphError(t, err, tt.class)
			if e.Status != tt.first.status || e.Call.Status != tt.first.status || e.Call.Attempts != tt.attempts {
				t.Errorf("Status %d, Call %+v; want status %d, %d attempts", e.Status, e.Call, tt.first.status, tt.attempts)
			}
			if e.Code != tt.code {
				t.Errorf("Code = %q, want %q", e.Code, tt.code)
			}
			if e.RequestID != requestID || e.Call.RequestID != requestID || e.ClientRequestID == "" {
				t.Errorf("RequestID %q, Call.RequestID %q, ClientRequestID %q", e.RequestID, e.Call.RequestID, e.ClientRequestID)
			}
			if e.Message == "" {
				t.Error("Message is empty")
			}
			if want := fmt.Sprintf(" %d %s", tt.first.status, http.StatusText(tt.first.status)); !strings.Contains(e.Error(), want) {
				t.Errorf("Error() = %q, want it to say %q", e.Error(), want)
			}
		})
	}
}

// TestWriteRetriedWhenNotSent: a dial that fails proves the request never left, so even an
// upload is sent again.
func TestWriteRetriedWhenNotSent(t *testing.T) {
	t.Parallel()
	closed := httptest.NewServer(http.NotFoundHandler())
	refused := closed.Listener.Addr().String()
	closed.Close() // nothing listens there now: the first dial is refused

	g := MustFakeGraph(t, reply{status: 204})
	var dials atomic.Int32
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			addr = refused
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	c, sleep := MustClient(t, g.URL, func(cfg *Config) { cfg.HTTPClient = &http.Client{Transport: tr} })
	info, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
	if err != nil {
		t.Fatalf("err = %v, want success on the second attempt", err)
	}
	if dials.Load() != 2 || len(g.Seen()) != 1 || info.Attempts != 2 || info.Status != 204 {
		t.Errorf("dials %d, requests %d, CallInfo %+v", dials.Load(), len(g.Seen()), info)
	}
	if !slices.Equal(sleep.Waits(), []time.Duration{250 * time.Millisecond}) {
		t.Errorf("waits = %v, want [250ms]", sleep.Waits())
	}
}

// TestWriteNotRetriedAfterDroppedAnswer: the whole body reached the server, then the
// connection broke: one attempt, outcome unknown, even though the next attempt would succeed.
func TestWriteNotRetriedAfterDroppedAnswer(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"upload", "sync"} {
		t.Run(name, func(t *testing.T) {
			g := MustFakeGraph(t)
			drop := hangUp(t)
			g.Handle(func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 0 {
					drop(w, r, n)
					return
				}
				w.WriteHeader(http.StatusNoContent)
			})
			c, sleep := MustClient(t, g.URL)
			var err error
			if name == "upload" {
				_, err = c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
			} else {
				_, err = c.SyncWithApple(t.Context(), newCreds(), settingID)
			}
			e := MustGraphError(t, err, ClassOutcomeUnknown)
			if len(g.Seen()) != 1 || e.Call.Attempts != 1 || e.Status != 0 || len(sleep.Waits()) != 0 {
				t.Errorf("requests %d, attempts %d, status %d, waits %v", len(g.Seen()), e.Call.Attempts, e.Status, sleep.Waits())
			}
		})
	}
}

// TestWriteSuccessIsNotUndoneByItsBody: once a write got a 2xx, Intune acted; a body that
// cannot be decoded must not turn that into a failure (or a retry).
func TestWriteSuccessIsNotUndoneByItsBody(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 200, header: map[string]string{"request-id": requestID}, body: "<html>not JSON</html>"}, reply{status: 500})
	c, sleep := MustClient(t, g.URL)
	var out struct{ Value string }
	info, err := c.do(t.Context(), newCreds(), request{
		op: OpSync, method: http.MethodPost, url: c.endpoint("/x"), unknownOutcome: "may or may not",
	}, &out)
	if err != nil {
		t.Fatalf("err = %v, want success", err)
	}
	if info.Status != 200 || info.Attempts != 1 || info.RequestID != requestID || len(g.Seen()) != 1 || len(sleep.Waits()) != 0 {
		t.Errorf("CallInfo %+v, requests %d, waits %v", info, len(g.Seen()), sleep.Waits())
	}
}

func TestNoSleepPastTheDeadline(t *testing.T) {
	t.Parallel()
	t.Run("Retry-After beyond the caller's deadline", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 429, header: map[string]string{"Retry-After": "5"}}, reply{status: 204})
		c, sleep := MustClient(t, g.URL)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := c.UploadDepToken(ctx, newCreds(), settingID, "a@example.com", []byte(tokenFile))
		e := MustGraphError(t, err, ClassThrottled)
		if e.RetryAfter != 5*time.Second || e.Call.Attempts != 1 || len(sleep.Waits()) != 0 || len(g.Seen()) != 1 {
			t.Errorf("RetryAfter %v, attempts %d, waits %v, requests %d", e.RetryAfter, e.Call.Attempts, sleep.Waits(), len(g.Seen()))
		}
	})
	t.Run("backoff beyond the configured timeout", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 503}, reply{status: 200, body: `{}`})
		c, sleep := MustClient(t, g.URL, func(cfg *Config) {
			cfg.Timeout = 200 * time.Millisecond
			cfg.Rand = func() float64 { return 0.99 } // 495 ms
		})
		_, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID)
		MustGraphError(t, err, ClassUnavailable)
		if len(sleep.Waits()) != 0 || len(g.Seen()) != 1 {
			t.Errorf("waits %v, requests %d", sleep.Waits(), len(g.Seen()))
		}
	})
	t.Run("Retry-After longer than a person waits", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 429, header: map[string]string{"Retry-After": "600"}}, reply{status: 200, body: `{}`})
		c, sleep := MustClient(t, g.URL, func(cfg *Config) { cfg.Timeout = time.Hour })
		_, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID)
		e := MustGraphError(t, err, ClassThrottled)
		if e.RetryAfter != 10*time.Minute || len(sleep.Waits()) != 0 {
			t.Errorf("RetryAfter %v, waits %v", e.RetryAfter, sleep.Waits())
		}
	})
	t.Run("a wait inside the deadline happens", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 429, header: map[string]string{"Retry-After": "2"}}, reply{status: 200, body: `{}`})
		c, sleep := MustClient(t, g.URL)
		if _, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sleep.Waits(), []time.Duration{2 * time.Second}) {
			t.Errorf("waits %v, want [2s]", sleep.Waits())
		}
	})
}

func TestOneRefreshOn401(t *testing.T) {
	t.Parallel()
	body := graphBody("InvalidAuthenticationToken", "Access token has expired or is not yet valid.")
	t.Run("second 401 is returned", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 401, body: body})
		c, sleep := MustClient(t, g.URL)
		cred := newCreds()
		_, err := c.UploadDepToken(t.Context(), cred, settingID, "a@example.com", []byte(tokenFile))
		e := MustGraphError(t, err, ClassUnauthorized)
		if cred.Refreshes() != 1 {
			t.Errorf("Refresh called %d times, want 1", cred.Refreshes())
		}
		seen := g.Seen()
		if len(seen) != 2 || e.Call.Attempts != 2 {
			t.Fatalf("%d requests, %d attempts; want 2", len(seen), e.Call.Attempts)
		}
		if seen[0].Header.Get("Authorization") != "Bearer "+testToken || seen[1].Header.Get("Authorization") != "Bearer "+refreshedTok {
			t.Error("the retry did not use the refreshed token")
		}
		if len(sleep.Waits()) != 0 {
			t.Errorf("waited %v before the refreshed retry", sleep.Waits())
		}
	})
	t.Run("refreshed token succeeds", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 401, body: body}, reply{status: 200, body: `{"id":"x"}`})
		c, _ := MustClient(t, g.URL)
		cred := newCreds()
		s, err := c.GetOnboardingSetting(t.Context(), cred, settingID)
		if err != nil || s.ID != "x" || cred.Refreshes() != 1 {
			t.Errorf("setting %+v, err %v, refreshes %d", s, err, cred.Refreshes())
		}
	})
	t.Run("failed refresh", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 401, body: body})
		c, _ := MustClient(t, g.URL)
		cred := newCreds()
		cred.refreshErr = errors.New("invalid_grant: AADSTS700082 refresh token expired")
		_, err := c.GetOnboardingSetting(t.Context(), cred, settingID)
		MustGraphError(t, err, ClassUnauthorized)
		if !errors.Is(err, cred.refreshErr) || len(g.Seen()) != 1 {
			t.Errorf("err %v, requests %d", err, len(g.Seen()))
		}
	})
	t.Run("claims challenge is not refreshed", func(t *testing.T) {
		g := MustFakeGraph(t, reply{status: 401,
			header: map[string]string{"WWW-Authenticate": `Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="`},
			body:   graphBody("InvalidAuthenticationToken", "Continuous access evaluation resulted in claims challenge")})
		c, _ := MustClient(t, g.URL)
		cred := newCreds()
		_, err := c.GetOnboardingSetting(t.Context(), cred, settingID)
		e := MustGraphError(t, err, ClassInsufficientClaims)
		if e.Claims != "eyJhY2Nlc3NfdG9rZW4iOnt9fQ==" || cred.Refreshes() != 0 || len(g.Seen()) != 1 {
			t.Errorf("Claims %q, refreshes %d, requests %d", e.Claims, cred.Refreshes(), len(g.Seen()))
		}
	})
}

func TestCredentialsFailureSendsNothing(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t, reply{status: 200, body: `{}`})
	c, _ := MustClient(t, g.URL)
	_, err := c.GetOnboardingSetting(t.Context(), failingCreds{}, settingID)
	MustGraphError(t, err, ClassUnauthorized)
	_, err = c.SyncWithApple(t.Context(), nil, settingID)
	MustGraphError(t, err, ClassUnauthorized)
	if len(g.Seen()) != 0 {
		t.Error("a request went out without a token")
	}
}

type failingCreds struct{}

func (failingCreds) AccessToken(context.Context) (string, error) {
	return "", errors.New("no session")
}
func (failingCreds) Refresh(context.Context) (string, error) { return "", errors.New("no session") }

// hangUp reads the request (the fake already did) and closes the connection without answering:
// what a dropped connection after the upload looks like to the client.
func hangUp(t *testing.T) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	}
}

func TestOutcomeUnknownIsNotRetried(t *testing.T) {
	t.Parallel()
	t.Run("upload, connection closed after the body", func(t *testing.T) {
		g := MustFakeGraph(t)
		g.Handle(hangUp(t))
		c, sleep := MustClient(t, g.URL)
		info, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
		e := MustGraphError(t, err, ClassOutcomeUnknown)
		if !strings.Contains(e.Message, "may or may not have reached Intune") || !strings.Contains(e.Message, "check the token's status") {
			t.Errorf("Message = %q", e.Message)
		}
		seen := g.Seen()
		if len(seen) != 1 || len(sleep.Waits()) != 0 || info.Attempts != 1 || e.Call.Attempts != 1 {
			t.Errorf("requests %d, waits %v, attempts %d", len(seen), sleep.Waits(), info.Attempts)
		}
		if len(seen) > 0 && len(seen[0].Body) != int(seen[0].ContentLength) {
			t.Error("the server did not get the whole body")
		}
		if e.ClientRequestID == "" || e.ClientRequestID != seen[0].Header.Get("client-request-id") {
			t.Errorf("ClientRequestID = %q", e.ClientRequestID)
		}
	})
	t.Run("sync, connection closed", func(t *testing.T) {
		g := MustFakeGraph(t)
		g.Handle(hangUp(t))
		c, _ := MustClient(t, g.URL)
		_, err := c.SyncWithApple(t.Context(), newCreds(), settingID)
		MustGraphError(t, err, ClassOutcomeUnknown)
		if len(g.Seen()) != 1 {
			t.Errorf("%d requests, want 1", len(g.Seen()))
		}
	})
	t.Run("upload, timeout awaiting headers", func(t *testing.T) {
		g := MustFakeGraph(t)
		g.Handle(func(w http.ResponseWriter, r *http.Request, _ int) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		})
		c, sleep := MustClient(t, g.URL, func(cfg *Config) { cfg.Timeout = 150 * time.Millisecond })
		_, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
		MustGraphError(t, err, ClassOutcomeUnknown)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("cause = %v, want the deadline", errors.Unwrap(err))
		}
		if len(g.Seen()) != 1 || len(sleep.Waits()) != 0 {
			t.Errorf("requests %d, waits %v", len(g.Seen()), sleep.Waits())
		}
	})
}

// A refused connection proves nothing was sent: the POST is retried like a GET and ends,
// when Graph stays unreachable, as ClassUnavailable.
func TestUnreachableGraphIsUnavailableForPOST(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	c, sleep := MustClient(t, url)
	_, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
	e := MustGraphError(t, err, ClassUnavailable)
	if !strings.Contains(e.Message, "nothing was sent") || e.Status != 0 {
		t.Errorf("Message %q, Status %d", e.Message, e.Status)
	}
	if e.Call.Attempts != maxAttempts || !slices.Equal(sleep.Waits(), []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}) {
		t.Errorf("attempts %d, waits %v: want %d attempts with backoff", e.Call.Attempts, sleep.Waits(), maxAttempts)
	}
}

func TestGETRetriesTransportErrors(t *testing.T) {
	t.Parallel()
	g := MustFakeGraph(t)
	drop := hangUp(t)
	g.Handle(func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 0 {
			drop(w, r, n)
			return
		}
		_, _ = w.Write([]byte(`{"id":"` + settingID + `"}`))
	})
	c, sleep := MustClient(t, g.URL)
	s, err := c.GetOnboardingSetting(t.Context(), newCreds(), settingID)
	if err != nil || s.ID != settingID {
		t.Fatalf("setting %+v, err %v", s, err)
	}
	if len(g.Seen()) != 2 || !slices.Equal(sleep.Waits(), []time.Duration{250 * time.Millisecond}) {
		t.Errorf("requests %d, waits %v", len(g.Seen()), sleep.Waits())
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()
	elsewhere := MustFakeGraph(t, reply{status: 204})
	g := MustFakeGraph(t, reply{status: http.StatusTemporaryRedirect, header: map[string]string{"Location": elsewhere.URL + "/steal"}})
	c, _ := MustClient(t, g.URL)
	_, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
	// An unexpected 3xx to a write does not prove that nothing changed.
	e := MustGraphError(t, err, ClassOutcomeUnknown)
	if e.Status != http.StatusTemporaryRedirect || len(elsewhere.Seen()) != 0 || len(g.Seen()) != 1 {
		t.Errorf("status %d, requests elsewhere %d, requests %d", e.Status, len(elsewhere.Seen()), len(g.Seen()))
	}
	_, err = c.GetOnboardingSetting(t.Context(), newCreds(), settingID)
	if e := MustGraphError(t, err, ClassOther); e.Status != http.StatusTemporaryRedirect || len(elsewhere.Seen()) != 0 {
		t.Errorf("GET: status %d, requests elsewhere %d", e.Status, len(elsewhere.Seen()))
	}
}

func TestErrorsCarryNoSecrets(t *testing.T) {
	t.Parallel()
	secretLine := "c2VjcmV0LXRva2VuLWNvbnRlbnQ" // a piece of the token file's base64
	var errs []error
	for _, rp := range []reply{
		{status: 400, body: intuneBody("BadRequest", "The DEP token is invalid")},
		{status: 401, body: graphBody("InvalidAuthenticationToken", "expired")},
		{status: 502, body: "<html>bad gateway</html>"},
	} {
		g := MustFakeGraph(t, rp)
		c, _ := MustClient(t, g.URL)
		_, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
		errs = append(errs, err)
	}
	g := MustFakeGraph(t)
	g.Handle(hangUp(t))
	c, _ := MustClient(t, g.URL)
	_, err := c.UploadDepToken(t.Context(), newCreds(), settingID, "a@example.com", []byte(tokenFile))
	errs = append(errs, err)

	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			for _, secret := range []string{testToken, refreshedTok, "access-token-secret", secretLine, "Bearer"} {
				if strings.Contains(s, secret) {
					t.Errorf("error text %q contains %q", s, secret)
				}
			}
		}
	}
}

// The client must not be able to rotate the key Apple encrypts tokens to.
func TestNoGenerateEncryptionPublicKey(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[*Client]()
	for i := range typ.NumMethod() {
		if name := typ.Method(i).Name; strings.Contains(strings.ToLower(name), "generate") {
			t.Errorf("Client has method %s", name)
		}
	}
}
