package watch

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"
)

// Channel carries reminders somewhere people see them.
type Channel interface {
	Name() string // teams, email or webhook: the metric's and the audit record's label
	Send(ctx context.Context, m Message) error
}

// Channel names.
const (
	ChannelTeams   = "teams"
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// maxAnswerBytes bounds what is read of a receiver's answer (for the error message).
const maxAnswerBytes = 4 << 10

// post sends a JSON body and takes any 2xx as delivered.
func post(ctx context.Context, hc *http.Client, url string, body []byte, header http.Header) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "depportal-watch")
	resp, err := hc.Do(req)
	if err != nil {
		// The URL may hold a secret (a Workflows URL carries its signature): name the host only.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap()
		}
		return fmt.Errorf("POST to %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("POST to %s: %s: %s", req.URL.Host, resp.Status, strings.TrimSpace(string(answer)))
	}
	return nil
}

func defaultHTTPClient(hc *http.Client) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{
		Timeout: 20 * time.Second,
		// A receiver that redirects is misconfigured; following would resend the reminder
		// (and a webhook's signature) somewhere nobody configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Teams posts an Adaptive Card to a Microsoft Teams Workflows webhook ("When a Teams webhook
// request is received"); Office 365 connectors, the old incoming webhooks, are retired.
type Teams struct {
	URL        string
	HTTPClient *http.Client
}

func (t *Teams) Name() string { return ChannelTeams }

// AdaptiveCardVersion is the Adaptive Card schema version the cards declare and are tested
// against: the newest that Teams renders in Workflows posts.
const AdaptiveCardVersion = "1.4"

// TeamsBody is the Workflows webhook body: a message with one Adaptive Card attachment.
func TeamsBody(m Message) ([]byte, error) {
	facts := []map[string]string{}
	for _, f := range m.Facts() {
		facts = append(facts, map[string]string{"title": f[0], "value": f[1]})
	}
	color := "Warning"
	if m.SyncError() || !m.Connector.ExpiresAt.After(m.At) || m.DaysLeft() < 7 {
		color = "Attention"
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": AdaptiveCardVersion,
		"body": []any{
			map[string]any{"type": "TextBlock", "text": m.Headline(), "weight": "Bolder", "size": "Medium", "wrap": true, "color": color},
			map[string]any{"type": "TextBlock", "text": m.Consequence(), "wrap": true},
			map[string]any{"type": "FactSet", "facts": facts},
			map[string]any{"type": "TextBlock", "text": m.Action(), "wrap": true, "isSubtle": true},
		},
		"actions": []any{
			map[string]any{"type": "Action.OpenUrl", "title": "Open in depportal", "url": m.PortalURL},
		},
	}
	return json.Marshal(map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	})
}

func (t *Teams) Send(ctx context.Context, m Message) error {
	body, err := TeamsBody(m)
	if err != nil {
		return err
	}
	return post(ctx, defaultHTTPClient(t.HTTPClient), t.URL, body, nil)
}

// Webhook posts the reminder as JSON, signed the Standard Webhooks way (webhook-id,
// webhook-timestamp, webhook-signature: HMAC-SHA256 over "id.timestamp.body"), for ticketing
// systems and anything else that can verify it.
type Webhook struct {
	URL string
	// Secret is the signing key, "whsec_" then base64 (Standard Webhooks' format).
	Secret     string
	HTTPClient *http.Client
	Now        func() time.Time
}

func (w *Webhook) Name() string { return ChannelWebhook }

// WebhookPayload is the webhook's JSON body.
type WebhookPayload struct {
	Type      string          `json:"type"` // "apple_connector.reminder" or ".test"
	Timestamp time.Time       `json:"timestamp"`
	Data      WebhookReminder `json:"data"`
}

// WebhookReminder is what the reminder says, for machines.
type WebhookReminder struct {
	ReminderID    string    `json:"reminder_id"`
	Kind          Kind      `json:"kind"`
	ConnectorID   string    `json:"connector_id"`
	Name          string    `json:"name"`
	ExpiresAt     time.Time `json:"expires_at"`
	DaysLeft      int       `json:"days_left"`
	Reason        string    `json:"reason"`
	AppleID       string    `json:"apple_id,omitempty"`
	SyncErrorCode int       `json:"sync_error_code,omitempty"`
	Summary       string    `json:"summary"`
	Consequence   string    `json:"consequence"`
	Action        string    `json:"action"`
	URL           string    `json:"url"`
}

// ParseWebhookSecret decodes a "whsec_…" secret (the prefix is optional) to its key bytes.
func ParseWebhookSecret(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil {
		return nil, errors.New("the webhook secret must be whsec_ followed by base64 (Standard Webhooks)")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the webhook secret must hold 24 to 64 bytes, not %d", len(key))
	}
	return key, nil
}

// SignWebhook is the Standard Webhooks signature of body: "v1," then base64 of
// HMAC-SHA256(key, id + "." + timestamp + "." + body).
func SignWebhook(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (w *Webhook) Send(ctx context.Context, m Message) error {
	key, err := ParseWebhookSecret(w.Secret)
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := now()
	typ := "apple_connector.reminder"
	if m.Test {
		typ = "apple_connector.test"
	}
	body, err := json.Marshal(WebhookPayload{Type: typ, Timestamp: ts.UTC(), Data: WebhookReminder{
		ReminderID: m.ID, Kind: m.Connector.Kind, ConnectorID: m.Connector.ID, Name: m.Connector.Name,
		ExpiresAt: m.Connector.ExpiresAt, DaysLeft: m.DaysLeft(), Reason: m.Reason, AppleID: m.Connector.AppleID,
		SyncErrorCode: m.Connector.SyncErrorCode, Summary: m.Headline(), Consequence: m.Consequence(), Action: m.Action(), URL: m.PortalURL,
	}})
	if err != nil {
		return err
	}
	// Each attempt is signed afresh (receivers refuse old timestamps); the id stays the
	// reminder's, so a receiver can tell a retry from a new reminder.
	h := http.Header{}
	h.Set("webhook-id", m.ID)
	h.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("webhook-signature", SignWebhook(key, m.ID, ts.Unix(), body))
	return post(ctx, defaultHTTPClient(w.HTTPClient), w.URL, body, h)
}

// Email sends the reminder as a plain-text and HTML message over SMTP with STARTTLS required
// and authentication when a username is set (github.com/wneessen/go-mail).
type Email struct {
	Addr     string // host:port, usually port 587
	Username string
	Password string
	From     string
	To       []string
	// TLSConfig, when set, replaces the default (the system's roots, the host's name); the
	// sandbox trusts its own server's certificate with it.
	TLSConfig *tls.Config
}

func (e *Email) Name() string { return ChannelEmail }

func (e *Email) Send(ctx context.Context, m Message) error {
	host, portText, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return fmt.Errorf("SMTP address %q: %w", e.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return fmt.Errorf("SMTP port %q: %w", portText, err)
	}
	tlsConfig := e.TLSConfig
	if tlsConfig == nil {
		tlsConfig = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSPolicy(mail.TLSMandatory), mail.WithTLSConfig(tlsConfig),
		mail.WithTimeout(20 * time.Second)}
	if e.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(e.Username), mail.WithPassword(e.Password))
	}
	client, err := mail.NewClient(host, opts...)
	if err != nil {
		return err
	}
	msg := mail.NewMsg()
	if err := msg.From(e.From); err != nil {
		return fmt.Errorf("sender %q: %w", e.From, err)
	}
	if err := msg.To(e.To...); err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	msg.Subject(m.Headline())
	msg.SetMessageIDWithValue(m.ID + "@depportal")
	msg.SetDateWithValue(m.At)
	msg.SetBodyString(mail.TypeTextPlain, m.Text())
	html, err := m.HTML()
	if err != nil {
		return err
	}
	msg.AddAlternativeString(mail.TypeTextHTML, html)
	return client.DialAndSendWithContext(ctx, msg)
}
