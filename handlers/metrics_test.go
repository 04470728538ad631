package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/depportal/depportal/sandbox"
)

func TestMetricsAccessRule(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef0123"
	// The test client comes from 127.0.0.1, outside this network list.
	p := newTestPortal(t, map[string]string{"DEPPORTAL_METRICS_NETWORKS": "10.0.0.0/8", "DEPPORTAL_METRICS_TOKEN": token})
	b := p.browser(t)
	if got := b.Get("/metrics"); got.Status != http.StatusForbidden {
		t.Errorf("no token, outside the networks: %d", got.Status)
	}
	if got := b.Do(http.MethodGet, "/metrics", nil, map[string]string{"Authorization": "Bearer wrong-token-wrong-token"}); got.Status != http.StatusForbidden {
		t.Errorf("wrong token: %d", got.Status)
	}
	// A spoofed X-Forwarded-For from an untrusted peer does not get in either.
	if got := b.Do(http.MethodGet, "/metrics", nil, map[string]string{"X-Forwarded-For": "10.1.2.3"}); got.Status != http.StatusForbidden {
		t.Errorf("spoofed X-Forwarded-For: %d", got.Status)
	}
	if got := b.Do(http.MethodGet, "/metrics", nil, map[string]string{"Authorization": "Bearer " + token}); got.Status != http.StatusOK {
		t.Errorf("right token: %d", got.Status)
	}
}

func TestMetricsAfterARenewal(t *testing.T) {
	t.Parallel()
	p := newTestPortal(t, nil)
	b, csrf := signedInHannah(t, p)
	b.Get("/")
	valid := MustSample(t, p, abmSoon, sandbox.SampleValid)
	review := postUpload(t, b, abmSoon, csrf, "abm-admin@contoso.com", valid.FileName, valid.Data)
	if got := confirmReview(t, b, review); got.Status != http.StatusOK {
		t.Fatalf("renewal: %d", got.Status)
	}
	m := b.Get("/metrics").Body
	for _, want := range []string{
		`depportal_http_requests_total{route="/",status="200"}`,
		`depportal_http_requests_total{route="/uploads/:id/confirm",status="303"} 1`,
		`depportal_http_requests_total{route="/uploads/:id",status="200"} 2`,
		`depportal_uploads_total{outcome="succeeded"} 1`,
		`depportal_uploads_total{outcome="failed"} 0`,
		`depportal_graph_request_duration_seconds_count{operation="upload",status="204"} 1`,
		`depportal_graph_request_duration_seconds_count{operation="list",status="200"}`,
		`depportal_signins_total{result="succeeded"} 1`,
		`depportal_signins_total{result="not_assigned"} 0`,
		`depportal_dep_token_expiry_timestamp_seconds{token_name="Contoso ABM"}`,
		`depportal_dep_token_expiry_timestamp_seconds{token_name="Contoso Schools ASM"}`,
		`depportal_audit_append_duration_seconds`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
