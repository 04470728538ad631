package sandbox

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFaults(t *testing.T) {
	got, err := ParseFaults(" upload=429:30, upload=drop*2 ,list=503,get=latency:2s*always,upload=502html,sync=lost,publicKey=504,generateKey=503:5s,upload=403")
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
		OpGet:         {{Latency: 2 * time.Second, Times: Always}},
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
		"upload=drop:1", "upload=429*0", "upload=429*many", "upload=502html:3",
	} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("ParseFaults(%q) accepted it", bad)
		}
	}
	for _, f := range []Fault{{Status: 429, RetryAfter: 30 * time.Second}, {Drop: true}, {Drop: true, AfterApply: true}, {Status: 502, HTML: true}, {Latency: time.Second}} {
		parsed, err := ParseFaults("upload=" + f.String())
		if err != nil || !reflect.DeepEqual(parsed[OpUpload], []Fault{f}) {
			t.Errorf("%+v: String %q parses as %+v, %v", f, f.String(), parsed[OpUpload], err)
		}
	}
}

func TestGraphFaultStatuses(t *testing.T) {
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
	s := MustStartGraph(t)
	defer func() {
		if recover() == nil {
			t.Error("InjectFault accepted an unknown operation")
		}
	}()
	s.graph.InjectFault("delete", Fault{Status: 500})
}
