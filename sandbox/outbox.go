package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Outbox plays the places reminders go: a Teams Workflows webhook and a ticketing system's
// webhook, as in-process endpoints, so the watch's real channel code runs end to end; and it
// shows at /_sandbox/outbox every message each channel carried.
type Outbox struct {
	webhookKey []byte

	mu       sync.Mutex
	messages []OutboxMessage
}

// OutboxMessage is one message a channel delivered.
type OutboxMessage struct {
	Channel  string // teams, webhook, email
	At       time.Time
	Summary  string // the card's first line, the payload's summary, the mail's subject
	ID       string // webhook-id, Message-ID
	Verified bool   // webhook: its Standard Webhooks signature checked out; teams, email: true
	Body     string
}

// NewOutbox makes an outbox whose webhook receiver checks signatures with webhookSecret
// ("whsec_…").
func NewOutbox(webhookSecret string) *Outbox {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(webhookSecret, "whsec_"))
	return &Outbox{webhookKey: key}
}

// Messages returns a copy of what was delivered, oldest first.
func (o *Outbox) Messages() []OutboxMessage {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.messages)
}

func (o *Outbox) add(m OutboxMessage) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.messages = append(o.messages, m)
}

const maxOutboxBody = 256 << 10

// ServeHTTP serves the page (?format=json: the messages, oldest first, for scripts and tests)
// and the two receivers under /_sandbox/outbox.
func (o *Outbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_sandbox/outbox" && r.Method == http.MethodGet && r.URL.Query().Get("format") == "json":
		w.Header().Set("Content-Type", "application/json")
		msgs := o.Messages()
		if msgs == nil {
			msgs = []OutboxMessage{} // an empty list, not null, before anything arrived
		}
		json.NewEncoder(w).Encode(msgs)
	case r.URL.Path == "/_sandbox/outbox" && r.Method == http.MethodGet:
		o.page(w)
	case r.URL.Path == "/_sandbox/outbox/teams" && r.Method == http.MethodPost:
		o.teams(w, r)
	case r.URL.Path == "/_sandbox/outbox/webhook" && r.Method == http.MethodPost:
		o.webhook(w, r)
	default:
		http.NotFound(w, r)
	}
}

// teams takes what a Workflows trigger takes: a message with an Adaptive Card attachment;
// Workflows answers 202 Accepted.
func (o *Outbox) teams(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOutboxBody))
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type string `json:"type"`
				Body []struct {
					Text string `json:"text"`
				} `json:"body"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err != nil || json.Unmarshal(body, &msg) != nil || msg.Type != "message" || len(msg.Attachments) == 0 ||
		msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" || msg.Attachments[0].Content.Type != "AdaptiveCard" {
		http.Error(w, `{"error":{"code":"InvalidRequestContent","message":"The request content is not a message with an Adaptive Card."}}`, http.StatusBadRequest)
		return
	}
	summary := ""
	if b := msg.Attachments[0].Content.Body; len(b) > 0 {
		summary = b[0].Text
	}
	o.add(OutboxMessage{Channel: "teams", At: time.Now(), Summary: summary, Verified: true, Body: string(body)})
	w.WriteHeader(http.StatusAccepted)
}

// webhook checks the Standard Webhooks signature, as a receiver should, and keeps the
// message either way, marked.
func (o *Outbox) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOutboxBody))
	if err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	mac := hmac.New(sha256.New, o.webhookKey)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	verified := false
	for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
		if v, b64, ok := strings.Cut(sig, ","); ok && v == "v1" {
			got, err := base64.StdEncoding.DecodeString(b64)
			verified = verified || (err == nil && hmac.Equal(got, want))
		}
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		verified = false
	}
	var payload struct {
		Data struct {
			Summary string `json:"summary"`
		} `json:"data"`
	}
	json.Unmarshal(body, &payload)
	o.add(OutboxMessage{Channel: "webhook", At: time.Now(), Summary: payload.Data.Summary, ID: id, Verified: verified, Body: string(body)})
	if !verified {
		http.Error(w, "signature does not verify", http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

var outboxPage = template.Must(template.New("outbox").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox outbox</title></head>
<body><h1>Sandbox outbox</h1>
<p>Every reminder the watch delivered in this sandbox, newest first: Teams cards and webhook calls
reached the in-process receivers, e-mail the in-process SMTP server (STARTTLS and AUTH).</p>
{{if not .}}<p>Nothing yet: the watch reads the sandbox tenant at start and every interval.</p>{{end}}
<table><thead><tr><th>When</th><th>Channel</th><th>What</th><th>Checked</th></tr></thead><tbody>
{{range .}}<tr><td>{{.At.Format "2006-01-02 15:04:05"}}</td><td>{{.Channel}}</td><td>{{.Summary}}</td>
<td>{{if .Verified}}yes{{else}}NO{{end}}</td></tr>
<tr><td colspan="4"><details><summary>as delivered</summary><pre>{{.Body}}</pre></details></td></tr>{{end}}
</tbody></table></body></html>
`))

func (o *Outbox) page(w http.ResponseWriter) {
	msgs := o.Messages()
	slices.Reverse(msgs)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	outboxPage.Execute(w, msgs)
}

// WatchWebhookSecret signs the sandbox watch's webhook calls. It is not a secret: the
// receiver is this process, and it shows what it got.
const WatchWebhookSecret = "whsec_c2FuZGJveC13ZWJob29rLXNpZ25pbmcta2V5LTMyYg=="
