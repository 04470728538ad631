package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// watchMetrics are the watch's: the expiry of every Apple connector, when the watch last read
// Intune, and the reminders it sent.
type watchMetrics struct {
	connectorExpiry *prometheus.GaugeVec
	lastSuccess     prometheus.Gauge
	polls           *prometheus.CounterVec
	reminders       *prometheus.CounterVec
}

// Reminder delivery results, pre-declared per channel so a dashboard sees zeros.
var reminderResults = []string{"sent", "retry", "failed"}

func newWatchMetrics(r *prometheus.Registry) *watchMetrics {
	w := &watchMetrics{
		connectorExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "depportal_apple_connector_expiry_timestamp_seconds",
			Help: "Expiry of each Apple connector as last read from Intune (Unix seconds), by kind (ade, vpp, apns) and name.",
		}, []string{"kind", "name"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "depportal_watch_last_success_timestamp_seconds",
			Help: "When the watch last read every Apple connector from Intune (Unix seconds); 0 until it has.",
		}),
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depportal_watch_polls_total",
			Help: "Reads of the Apple connectors by this instance's watch, by result (ok, failed).",
		}, []string{"result"}),
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "depportal_reminders_sent_total",
			Help: "Reminder deliveries by this instance, by channel (teams, email, webhook) and result (sent; retry: failed, will be tried again; failed: given up).",
		}, []string{"channel", "result"}),
	}
	r.MustRegister(w.connectorExpiry, w.lastSuccess, w.polls, w.reminders)
	w.polls.WithLabelValues("ok")
	w.polls.WithLabelValues("failed")
	return w
}

// ConnectorExpiry is one connector's expiry for the gauge.
type ConnectorExpiry struct {
	Kind, Name string
	Expires    time.Time
}

// ConnectorExpiries replaces the connector gauge with what the watch read last: a connector
// gone from Intune leaves the gauge. ADE tokens also set the gauge of earlier releases
// (depportal_dep_token_expiry_timestamp_seconds), kept for one release.
func (m *Metrics) ConnectorExpiries(all []ConnectorExpiry) {
	m.connectorExpiry.Reset()
	m.SeenConnectors(all)
}

// SeenConnectors sets the gauge of connectors a person's page read, leaving the others as
// they are: one person's scope tags may hide connectors another sees.
func (m *Metrics) SeenConnectors(seen []ConnectorExpiry) {
	ade := map[string]time.Time{}
	for _, c := range seen {
		if c.Expires.IsZero() {
			continue
		}
		m.connectorExpiry.WithLabelValues(c.Kind, c.Name).Set(float64(c.Expires.Unix()))
		if c.Kind == "ade" {
			ade[c.Name] = c.Expires
		}
	}
	m.tokenExpiries(ade)
}

// WatchSucceeded sets when the watch last read Intune in full (any instance's read).
func (m *Metrics) WatchSucceeded(at time.Time) {
	if !at.IsZero() {
		m.lastSuccess.Set(float64(at.Unix()))
	}
}

// WatchPolled counts one read of Intune by this instance.
func (m *Metrics) WatchPolled(err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.polls.WithLabelValues(result).Inc()
}

// DeclareReminderChannels shows each channel's results at zero from the start.
func (m *Metrics) DeclareReminderChannels(channels ...string) {
	for _, c := range channels {
		for _, r := range reminderResults {
			m.reminders.WithLabelValues(c, r)
		}
	}
}

// ReminderDelivery counts one delivery attempt's result: sent, retry or failed.
func (m *Metrics) ReminderDelivery(channel, result string) {
	m.reminders.WithLabelValues(channel, result).Inc()
}
