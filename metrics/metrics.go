// Package metrics holds the portal's Prometheus metrics. It owns their names, labels and
// meaning (docs/operations.md explains each); it must never put a person's identity, an
// Apple ID or anything secret into a label.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the portal's registry and its collectors.
type Metrics struct {
	registry      *prometheus.Registry
	httpRequests  *prometheus.CounterVec
	uploads       *prometheus.CounterVec
	graphDuration *prometheus.HistogramVec
	auditAppend   prometheus.Histogram
	signins       *prometheus.CounterVec
	tokenExpiry   *prometheus.GaugeVec
	rateLimited   *prometheus.CounterVec
	witness       *prometheus.CounterVec
	*watchMetrics
	*credentialMetrics
}

// AuditWitnessed counts a checkpoint delivery to a witness.
func (m *Metrics) AuditWitnessed(err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.witness.WithLabelValues(result).Inc()
}

// RateLimited counts a request refused by the named budget.
func (m *Metrics) RateLimited(limit string) { m.rateLimited.WithLabelValues(limit).Inc() }

// Upload outcomes, pre-declared so a dashboard sees zeros, not gaps.
var uploadOutcomes = []string{"succeeded", "failed", "unknown"}

// New registers every metric, with the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depportal_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "status"}),
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depportal_uploads_total",
			Help: "Token uploads sent to Intune, by outcome (succeeded, failed, unknown).",
		}, []string{"outcome"}),
		graphDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "depportal_graph_request_duration_seconds",
			Help:    "Microsoft Graph request attempts, by operation and HTTP status (0: no answer).",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30},
		}, []string{"operation", "status"}),
		auditAppend: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "depportal_audit_append_duration_seconds",
			Help:    "Time to append one audit record durably.",
			Buckets: []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1},
		}),
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depportal_signins_total",
			Help: "Sign-ins that came back to the portal, by result: succeeded, or the kind of refusal (not_assigned, other_tenant, consent_required, conditional_access, mfa_required, client_credential, provider_other, tenant_check, check_failed).",
		}, []string{"result"}),
		tokenExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "depportal_dep_token_expiry_timestamp_seconds",
			Help: "Expiry of each Apple enrollment program token as last read from Intune (Unix seconds).",
		}, []string{"token_name"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depportal_rate_limited_total",
			Help: "Requests refused with 429 because a budget was spent, by budget (auth, upload, confirm, export, checkpoint).",
		}, []string{"limit"}),
		witness: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depportal_audit_witness_total",
			Help: "Signed audit checkpoints handed to a witness (DEPPORTAL_AUDIT_WITNESS), by result (ok, failed).",
		}, []string{"result"}),
	}
	m.registry.MustRegister(m.httpRequests, m.uploads, m.graphDuration, m.auditAppend, m.signins, m.tokenExpiry, m.rateLimited, m.witness,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.watchMetrics = newWatchMetrics(m.registry)
	m.credentialMetrics = newCredentialMetrics(m.registry)
	for _, o := range uploadOutcomes {
		m.uploads.WithLabelValues(o)
	}
	m.signins.WithLabelValues("succeeded")
	m.witness.WithLabelValues("ok")
	m.witness.WithLabelValues("failed")
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// HTTPRequest counts a served request; route is the pattern, never the path (bounded labels).
func (m *Metrics) HTTPRequest(route string, status int) {
	if route == "" {
		route = "unmatched"
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

// Upload counts an upload sent to Intune.
func (m *Metrics) Upload(outcome string) { m.uploads.WithLabelValues(outcome).Inc() }

// SignIn counts a sign-in that came back: "succeeded", or the kind of refusal. The label's
// values are few and fixed (auth.Refusals); none names a person.
func (m *Metrics) SignIn(result string) { m.signins.WithLabelValues(result).Inc() }

// DeclareSignInResults shows each result at zero before it first happens, so an alert on a
// refusal kind has a series to watch from the start.
func (m *Metrics) DeclareSignInResults(results ...string) {
	for _, r := range results {
		m.signins.WithLabelValues(r)
	}
}

// GraphCall records one Graph attempt; graph.Config.Observe calls it.
func (m *Metrics) GraphCall(op string, status int, d time.Duration) {
	m.graphDuration.WithLabelValues(op, strconv.Itoa(status)).Observe(d.Seconds())
}

// AuditAppend records the time one audit append took.
func (m *Metrics) AuditAppend(d time.Duration) { m.auditAppend.Observe(d.Seconds()) }

// tokenExpiries sets the gauge of earlier releases for each ADE token. Tokens not in the list
// keep their last value: one person's scope tags may hide tokens another sees.
func (m *Metrics) tokenExpiries(expiries map[string]time.Time) {
	for name, t := range expiries {
		if t.IsZero() {
			continue
		}
		m.tokenExpiry.WithLabelValues(name).Set(float64(t.Unix()))
	}
}
