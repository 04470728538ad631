package sandbox

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	t.Parallel()
	got, err := ParseFaults(" upload=429:30, upload=drop*2 ,list=503,get=latency:2s*always,upload=502html,sync=lost,publicKey=504,generateKey=503:5s,upload=403,get=claims")
	if err != nil {
		t.Fatal(err)
	}
	want := map[Operation][]Fault{
		OpUpload: {
			{Status: 429, RetryAfter: 30 * time.Second},
			{Drop: true, Times: 2},
			{Status: 502, HTML: true},
			{Status: 403},
		},
		OpList:        {{Status: 503}},
		OpGet:         {{Latency: 2 * time.Second, Times: Always}, {Claims: true}},
		OpSync:        {{Drop: true, AfterApply: true}},
		OpPublicKey:   {{Status: 504}},
		OpGenerateKey: {{Status: 503, RetryAfter: 5 * time.Second}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseFaults =\n%+v\nwant\n%+v", got, want)
	}
	if got, err := ParseFaults(""); err != nil || len(got) != 0 {
		t.Errorf("empty spec: %v, %v", got, err)
	}
	for _, bad := range []string{
		"upload", "delete=429", "upload=418", "upload=429:soon", "upload=500:10", "upload=latency", "upload=latency:-1s",
		"upload=drop:1", "upload=429*0", "upload=429*many", "upload=502html:3", "upload=claims:c2",
	} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted it", bad)
		}
	}
	for _, f := range []Fault{{Status: 429, RetryAfter: 30 * time.Second}, {Drop: true}, {Drop: true, AfterApply: true}, {Status: 502, HTML: true}, {Latency: time.Second}, {Claims: true}} {
		parsed, err := ParseFaults("upload=" + f.String())
		if err != nil || !reflect.DeepEqual(parsed[OpUpload], []Fault{f}) {
			t.Errorf("%+v: String %q parses as %+v, %v", f, f.String(), parsed[OpUpload], err)
		}
	}
}

func TestGraphFaultStatuses(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	token := MustMintToken(t, nil)
	list := "/deviceManagement/depOnboardingSettings"
	call := func() graphResponse { return MustCallGraph(t, s, http.MethodGet, list, token, nil) }

	s.graph.InjectFault(OpList, Fault{Status: http.StatusTooManyRequests, RetryAfter: 7 * time.Second})
	resp := call()
	MustIntuneError(t, resp, http.StatusTooManyRequests, "TooManyRequests")
	if resp.Header.Get("Retry-After") != "7" {
		t.Errorf("Retry-After %q, want 7", resp.Header.Get("Retry-After"))
	}
	MustStatus(t, call(), http.StatusOK) // used up

	s.graph.InjectFault(OpList, Fault{Status: http.StatusTooManyRequests})
	if resp := call(); resp.Header.Get("Retry-After") != "10" {
		t.Errorf("default Retry-After %q, want 10", resp.Header.Get("Retry-After"))
	}

	s.graph.InjectFault(OpList, Fault{Status: http.StatusServiceUnavailable, Times: 2})
	MustGraphError(t, call(), http.StatusServiceUnavailable, "ServiceUnavailable")
	MustGraphError(t, call(), http.StatusServiceUnavailable, "ServiceUnavailable")
	MustStatus(t, call(), http.StatusOK)

	s.graph.InjectFault(OpList, Fault{HTML: true})
	resp = call()
	MustStatus(t, resp, http.StatusBadGateway)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || json.Valid(resp.body) || !strings.Contains(string(resp.body), "<html>") {
		t.Errorf("502html: Content-Type %q, body %q", resp.Header.Get("Content-Type"), resp.body)
	}
	if resp.Header.Get("request-id") == "" {
		t.Error("502html has no request-id")
	}

	s.graph.InjectFault(OpList, Fault{Status: http.StatusForbidden})
	MustIntuneError(t, call(), http.StatusForbidden, "Forbidden")
	s.graph.InjectFault(OpList, Fault{Status: http.StatusGatewayTimeout})
	MustGraphError(t, call(), http.StatusGatewayTimeout, "GatewayTimeout")

	// Faults are per operation and queue in order.
	s.graph.InjectFault(OpGet, Fault{Status: http.StatusInternalServerError})
	s.graph.InjectFault(OpGet, Fault{Status: http.StatusBadGateway})
	MustStatus(t, call(), http.StatusOK)
	get := func() graphResponse { return MustCallGraph(t, s, http.MethodGet, list+"/"+settingSoon, token, nil) }
	MustIntuneError(t, get(), http.StatusInternalServerError, "InternalServerError")
	MustGraphError(t, get(), http.StatusBadGateway, "BadGateway")
	MustStatus(t, get(), http.StatusOK)

	s.graph.InjectFault(OpPublicKey, Fault{Status: http.StatusServiceUnavailable, Times: Always})
	for range 3 {
		MustGraphError(t, MustCallGraph(t, s, http.MethodGet, list+"/"+settingSoon+"/getEncryptionPublicKey", token, nil),
			http.StatusServiceUnavailable, "ServiceUnavailable")
	}

	// A fault does not get past authentication: Graph checks the token first.
	s.graph.InjectFault(OpList, Fault{Status: http.StatusServiceUnavailable})
	MustGraphError(t, MustCallGraph(t, s, http.MethodGet, list, "", nil), http.StatusUnauthorized, "InvalidAuthenticationToken")
	MustStatus(t, call(), http.StatusServiceUnavailable)
}

func TestGraphFaultOnUploadIsRecorded(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.Faults = "upload=429:30" })
	sample := MustSample(t, s.graph, settingSoon, SampleValid)
	resp := MustUpload(t, s, settingSoon, "a@contoso.com", string(sample.Data))
	MustIntuneError(t, resp, http.StatusTooManyRequests, "TooManyRequests")
	if resp.Header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	if got := s.graph.Settings()[0].AppleIdentifier; got != "abm-admin@contoso.com" {
		t.Errorf("a throttled upload was applied: %q", got)
	}
	MustStatus(t, MustUpload(t, s, settingSoon, "a@contoso.com", string(sample.Data)), http.StatusNoContent)
	rec := s.graph.Received()
	if len(rec) != 2 || rec[0].Status != 429 || rec[0].Applied || rec[0].Outcome != "fault: 429:30" ||
		rec[0].FileSHA256 != sha256Hex(sample.Data) || !rec[1].Applied {
		t.Errorf("Received() = %+v", rec)
	}
}

func TestGraphFaultDrop(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	sample := MustSample(t, s.graph, settingSoon, SampleValid)
	req := func() (*http.Response, error) {
		r, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
			s.base()+"/deviceManagement/depOnboardingSettings/"+settingSoon+"/uploadDepToken",
			strings.NewReader(string(MustUploadBody(t, "dropped@contoso.com", string(sample.Data)))))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", "Bearer "+MustMintToken(t, nil))
		r.Header.Set("Content-Type", "application/json")
		// A POST is not retried by the transport, so the client sees the drop itself.
		return s.client.Do(r)
	}

	s.graph.InjectFault(OpUpload, Fault{Drop: true})
	if resp, err := req(); err == nil {
		resp.Body.Close()
		t.Fatalf("drop: got a response, status %d", resp.StatusCode)
	}
	if got := s.graph.Settings()[0].AppleIdentifier; got != "abm-admin@contoso.com" {
		t.Errorf("drop: the upload was applied (%q)", got)
	}

	s.graph.InjectFault(OpUpload, Fault{Drop: true, AfterApply: true})
	if resp, err := req(); err == nil {
		resp.Body.Close()
		t.Fatalf("lost: got a response, status %d", resp.StatusCode)
	}
	if got := s.graph.Settings()[0].AppleIdentifier; got != "dropped@contoso.com" {
		t.Errorf("lost: the upload was not applied (%q)", got)
	}

	rec := MustReadReceivedFile(t, s.dataDir)
	if len(rec) != 2 || rec[0].Status != 0 || rec[0].Applied || rec[1].Status != 0 || !rec[1].Applied {
		t.Errorf("%s = %+v", ReceivedFile, rec)
	}
	for _, r := range rec {
		if r.FileSHA256 != sha256Hex(sample.Data) || r.AppleID != "dropped@contoso.com" {
			t.Errorf("record %+v does not hold what was sent", r)
		}
	}
}

func TestGraphFaultLatency(t *testing.T) {
	t.Parallel()
	const latency = 300 * time.Millisecond
	s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.Faults = "get=latency:300ms*2" })
	token := MustMintToken(t, nil)
	path := "/deviceManagement/depOnboardingSettings/" + settingSoon
	for i := range 3 {
		start := time.Now()
		MustStatus(t, MustCallGraph(t, s, http.MethodGet, path, token, nil), http.StatusOK)
		took := time.Since(start)
		if i < 2 && took < latency {
			t.Errorf("call %d took %v, want at least %v", i, took, latency)
		}
		if i == 2 && took >= latency {
			t.Errorf("call %d took %v after the fault was used up", i, took)
		}
	}
}

func TestInjectFaultPanicsOnUnknownOperation(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	defer func() {
		if recover() == nil {
			t.Error("InjectFault accepted an unknown operation")
		}
	}()
	s.graph.InjectFault("delete", Fault{Status: 500})
}

func TestParseFaultsApplied(t *testing.T) {
	t.Parallel()
	got, err := ParseFaults("upload=500applied,upload=latency:50ms,upload=502applied*2,sync=504applied*always")
	if err != nil {
		t.Fatal(err)
	}
	want := map[Operation][]Fault{
		OpUpload: {
			{Status: 500, AfterApply: true},
			{Latency: 50 * time.Millisecond},
			{Status: 502, AfterApply: true, Times: 2},
		},
		OpSync: {{Status: 504, AfterApply: true, Times: Always}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseFaults =\n%+v\nwant\n%+v", got, want)
	}
	for _, kind := range []string{"500applied", "502applied", "504applied"} {
		parsed, err := ParseFaults("upload=" + kind)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		f := parsed[OpUpload][0]
		if !f.AfterApply || f.Drop || f.HTML || f.Status != map[string]int{"500applied": 500, "502applied": 502, "504applied": 504}[kind] {
			t.Errorf("%s parses as %+v", kind, f)
		}
		if f.String() != kind {
			t.Errorf("%s: String() = %q", kind, f.String())
		}
		again, err := ParseFaults("upload=" + f.String())
		if err != nil || !reflect.DeepEqual(again[OpUpload], []Fault{f}) {
			t.Errorf("%+v: String %q parses as %+v, %v", f, f.String(), again[OpUpload], err)
		}
	}
	for _, bad := range []string{"upload=504applied:3", "upload=503applied", "upload=429applied", "upload=applied", "upload=502htmlapplied"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted it", bad)
		}
	}
	_, err = ParseFaults("upload=418")
	for _, kind := range []string{"500applied", "502applied", "504applied"} {
		if err == nil || !strings.Contains(err.Error(), kind) {
			t.Errorf("the error for an unknown kind does not list %s: %v", kind, err)
		}
	}
}

// A 500, 502 or 504 after Intune applied the call: the gateway gave up, Intune did not.
func TestGraphFaultAppliedUpload(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind   string
		status int
		code   string
		intune bool // the error's message is Intune's envelope, as with the plain kind
	}{
		{"500applied", http.StatusInternalServerError, "InternalServerError", true},
		{"502applied", http.StatusBadGateway, "BadGateway", false},
		{"504applied", http.StatusGatewayTimeout, "GatewayTimeout", false},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.Faults = "upload=" + tc.kind })
			token := MustMintToken(t, nil)
			path := "/deviceManagement/depOnboardingSettings/" + settingSoon
			before := MustGetSettingWire(t, s, token, path)

			sample := MustSample(t, s.graph, settingSoon, SampleValid)
			resp := MustUpload(t, s, settingSoon, "applied@contoso.com", string(sample.Data))
			if tc.intune {
				MustIntuneError(t, resp, tc.status, tc.code)
			} else {
				MustGraphError(t, resp, tc.status, tc.code)
			}

			after := MustGetSettingWire(t, s, token, path)
			for _, field := range []string{"tokenExpirationDateTime", "lastModifiedDateTime"} {
				if was, is := MustParseGraphTime(t, before[field]), MustParseGraphTime(t, after[field]); !is.After(was) {
					t.Errorf("%s %v, was %v: the upload was not applied", field, is, was)
				}
			}
			if after["appleIdentifier"] != "applied@contoso.com" {
				t.Errorf("appleIdentifier %v", after["appleIdentifier"])
			}

			wantOutcome := "accepted; fault: " + tc.kind[:3] + " after applying"
			rec := s.graph.Received()
			if len(rec) != 1 || rec[0].Status != tc.status || !rec[0].Applied || rec[0].Outcome != wantOutcome ||
				rec[0].FileSHA256 != sha256Hex(sample.Data) {
				t.Errorf("Received() = %+v, want status %d, applied, outcome %q", rec, tc.status, wantOutcome)
			}
			if file := MustReadReceivedFile(t, s.dataDir); !reflect.DeepEqual(file, rec) {
				t.Errorf("%s = %+v, Received() = %+v", ReceivedFile, file, rec)
			}

			// Used up: the next upload is answered as usual.
			MustStatus(t, MustUpload(t, s, settingSoon, "applied@contoso.com", string(sample.Data)), http.StatusNoContent)
		})
	}
}

func MustGetSettingWire(tb testing.TB, s *graphServer, token, path string) map[string]any {
	tb.Helper()
	resp := MustCallGraph(tb, s, http.MethodGet, path, token, nil)
	MustStatus(tb, resp, http.StatusOK)
	var wire map[string]any
	MustJSON(tb, resp.body, &wire)
	return wire
}

// The plain kinds still fail before the call: nothing is applied.
func TestGraphFaultPlainStatusDoesNotApply(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusGatewayTimeout} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.Faults = "upload=" + strconv.Itoa(status) })
			token := MustMintToken(t, nil)
			path := "/deviceManagement/depOnboardingSettings/" + settingSoon
			before := MustGetSettingWire(t, s, token, path)
			sample := MustSample(t, s.graph, settingSoon, SampleValid)
			MustStatus(t, MustUpload(t, s, settingSoon, "not-applied@contoso.com", string(sample.Data)), status)
			after := MustGetSettingWire(t, s, token, path)
			for _, field := range []string{"appleIdentifier", "tokenExpirationDateTime", "lastModifiedDateTime"} {
				if before[field] != after[field] {
					t.Errorf("%s changed from %v to %v", field, before[field], after[field])
				}
			}
			rec := s.graph.Received()
			if len(rec) != 1 || rec[0].Status != status || rec[0].Applied || rec[0].Outcome != "fault: "+strconv.Itoa(status) {
				t.Errorf("Received() = %+v", rec)
			}
		})
	}
}

// The fault replaces the answer whatever the call did: an upload Intune refuses is answered
// 504 all the same, and only the record says it was refused.
func TestGraphFaultAppliedOnRejectedUpload(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.Faults = "upload=504applied" })
	wrong := MustSample(t, s.graph, settingSoon, SampleWrongKey)
	MustGraphError(t, MustUpload(t, s, settingSoon, "wrong@contoso.com", string(wrong.Data)), http.StatusGatewayTimeout, "GatewayTimeout")
	if got := s.graph.Settings()[0].AppleIdentifier; got != "abm-admin@contoso.com" {
		t.Errorf("a refused upload was applied: %q", got)
	}
	rec := s.graph.Received()
	if len(rec) != 1 || rec[0].Status != http.StatusGatewayTimeout || rec[0].Applied ||
		!strings.HasPrefix(rec[0].Outcome, "rejected: 400 BadRequest: ") || !strings.HasSuffix(rec[0].Outcome, "; fault: answered 504 instead") {
		t.Errorf("Received() = %+v", rec)
	}
}

// latency:D and the applied kinds queue for one operation as the other kinds do.
func TestGraphFaultAppliedQueuesWithLatency(t *testing.T) {
	t.Parallel()
	const latency = 200 * time.Millisecond
	s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.Faults = "upload=latency:200ms,upload=502applied*2" })
	sample := MustSample(t, s.graph, settingSoon, SampleValid)
	upload := func() graphResponse { return MustUpload(t, s, settingSoon, "queued@contoso.com", string(sample.Data)) }

	start := time.Now()
	MustStatus(t, upload(), http.StatusNoContent)
	if took := time.Since(start); took < latency {
		t.Errorf("the latency fault took %v, want at least %v", took, latency)
	}
	MustGraphError(t, upload(), http.StatusBadGateway, "BadGateway")
	MustGraphError(t, upload(), http.StatusBadGateway, "BadGateway")
	MustStatus(t, upload(), http.StatusNoContent)

	var statuses []int
	for _, r := range s.graph.Received() {
		if !r.Applied {
			t.Errorf("not applied: %+v", r)
		}
		statuses = append(statuses, r.Status)
	}
	if want := []int{204, 502, 502, 204}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
}

// The latency fault carries out the call even when the client has given up waiting.
func TestGraphFaultLatencyAppliesAfterClientGivesUp(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t, func(cfg *GraphConfig) { cfg.Faults = "upload=latency:1m" })
	sample := MustSample(t, s.graph, settingSoon, SampleValid)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost,
		s.base()+"/deviceManagement/depOnboardingSettings/"+settingSoon+"/uploadDepToken",
		strings.NewReader(string(MustUploadBody(t, "impatient@contoso.com", string(sample.Data)))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+MustMintToken(t, nil))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan error, 1)
	go func() {
		resp, err := s.client.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("got a response, status %d, before the latency was up", resp.StatusCode)
		} else {
			err = nil
		}
		done <- err
	}()

	// Give up once the simulator has the request in hand, that is, has taken the fault.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("the fault to be taken", func() bool {
		s.graph.mu.Lock()
		defer s.graph.mu.Unlock()
		return len(s.graph.faults[OpUpload]) == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitFor("the upload to be recorded", func() bool { return len(s.graph.Received()) > 0 })
	if rec := s.graph.Received(); len(rec) != 1 || !rec[0].Applied || rec[0].Status != http.StatusNoContent {
		t.Errorf("Received() = %+v", rec)
	}
	if got := s.graph.Settings()[0].AppleIdentifier; got != "impatient@contoso.com" {
		t.Errorf("appleIdentifier %q", got)
	}
}

// Graph's claims challenge, as Microsoft documents it: only to a client that declared cp1, 401
// with error="insufficient_claims" and the base64 claims request, again and again until a
// token carries the authentication context asked for.
func TestGraphClaimsChallenge(t *testing.T) {
	t.Parallel()
	s := MustStartGraph(t)
	list := "/deviceManagement/depOnboardingSettings"
	plain := MustMintToken(t, nil)
	capable := MustMintToken(t, map[string]any{"xms_cc": []string{"cp1"}})
	stepped := MustMintToken(t, map[string]any{"xms_cc": []string{"cp1"}, "acrs": []string{ClaimsContext}})
	s.graph.InjectFault(OpList, Fault{Claims: true})

	MustStatus(t, MustCallGraph(t, s, http.MethodGet, list, plain, nil), http.StatusOK) // cannot be challenged
	for range 2 {
		resp := MustCallGraph(t, s, http.MethodGet, list, capable, nil)
		MustGraphError(t, resp, http.StatusUnauthorized, "InvalidAuthenticationToken")
		h := resp.Header.Get("WWW-Authenticate")
		m := regexp.MustCompile(`error="insufficient_claims", claims="([^"]+)"`).FindStringSubmatch(h)
		if m == nil {
			t.Fatalf("WWW-Authenticate %q", h)
		}
		decoded, err := base64.StdEncoding.DecodeString(m[1])
		if err != nil || string(decoded) != `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}` {
			t.Errorf("claims %q (%v)", decoded, err)
		}
	}
	MustStatus(t, MustCallGraph(t, s, http.MethodGet, list, stepped, nil), http.StatusOK) // met
	MustStatus(t, MustCallGraph(t, s, http.MethodGet, list, capable, nil), http.StatusOK) // used up
}
