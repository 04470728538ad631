package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/watch"
)

// verifyStandardWebhook is written from the Standard Webhooks specification, not from
// watch's code: the signed content is "{webhook-id}.{webhook-timestamp}.{body}", the key is
// the base64 after "whsec_", webhook-signature is a space-separated list of "v1,<base64>",
// and a timestamp more than five minutes off is refused.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("timestamp is not an integer")
	}
	if math.Abs(float64(now.Unix()-sec)) > 300 {
		return errors.New("timestamp outside the tolerance")
	}
	signed := []byte(id + "." + ts + "." + string(body))
	mac := hmac.New(sha256.New, key)
	mac.Write(signed)
	expected := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, expected) {
			return nil
		}
	}
	return errors.New("no signature matches")
}

type received struct {
	mu     sync.Mutex
	header http.Header
	body   []byte
	calls  int
}

func MustReceiver(tb testing.TB, status int) (*httptest.Server, *received) {
	rec := &received{}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.header, rec.body = r.Header.Clone(), body
		rec.calls++
		rec.mu.Unlock()
		w.WriteHeader(status)
	}))
	tb.Cleanup(s.Close)
	return s, rec
}

func watchEnv(extra map[string]string) func(string) string {
	m := map[string]string{
		"ENTRA_TENANT_ID":             "72f988bf-86f1-41af-91ab-2d7cd011db47",
		"ENTRA_CLIENT_ID":             "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d",
		"ENTRA_CLIENT_SECRET":         "s3cret",
		"DEPPORTAL_PUBLIC_URL":        "https://depportal.contoso.com",
		"DEPPORTAL_SESSION_KEY":       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"DEPPORTAL_AUDIT_SIGNING_KEY": "unused by these commands",
	}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

const webhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestWatchTestCommand(t *testing.T) {
	t.Parallel()
	teams, teamsGot := MustReceiver(t, http.StatusAccepted)
	hook, hookGot := MustReceiver(t, http.StatusOK)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close() // nothing listens there: connection refused
	var out bytes.Buffer
	err := run(context.Background(), []string{"depportal", "watch", "test"}, watchEnv(map[string]string{
		"DEPPORTAL_REMINDER_TEAMS_URL":      teams.URL + "/workflows/x",
		"DEPPORTAL_REMINDER_WEBHOOK_URL":    hook.URL + "/hook",
		"DEPPORTAL_REMINDER_WEBHOOK_SECRET": webhookSecret,
		"DEPPORTAL_REMINDER_SMTP_ADDR":      closedAddr,
		"DEPPORTAL_REMINDER_EMAIL_FROM":     "depportal@contoso.com",
		"DEPPORTAL_REMINDER_EMAIL_TO":       "admins@contoso.com",
	}), nil, &out, io.Discard)
	var code exitCode
	if !errors.As(err, &code) || code != 1 {
		t.Errorf("err = %v, want exit status 1 (one channel failed)", err)
	}
	text := out.String()
	for _, want := range []string{"teams: sent", "webhook: sent", "email: FAILED:"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	hookGot.mu.Lock()
	if err := verifyStandardWebhook(webhookSecret, hookGot.header, hookGot.body, time.Now()); err != nil {
		t.Errorf("webhook signature: %v", err)
	}
	tampered := append([]byte(nil), hookGot.body...)
	tampered[len(tampered)-2] ^= 1
	if verifyStandardWebhook(webhookSecret, hookGot.header, tampered, time.Now()) == nil {
		t.Error("a changed body still verified: the check proves nothing")
	}
	var payload struct {
		Type string
		Data map[string]any
	}
	json.Unmarshal(hookGot.body, &payload)
	if payload.Type != "apple_connector.test" || payload.Data["kind"] != "ade" || payload.Data["reminder_id"] != hookGot.header.Get("webhook-id") {
		t.Errorf("webhook payload %s", hookGot.body)
	}
	hookGot.mu.Unlock()

	teamsGot.mu.Lock()
	defer teamsGot.mu.Unlock()
	MustValidTeamsCard(t, teamsGot.body)
}

// MustValidTeamsCard checks a Workflows webhook body against what the Adaptive Card schema
// of the declared version requires of the elements used.
func MustValidTeamsCard(tb testing.TB, body []byte) {
	tb.Helper()
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			Content     json.RawMessage `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Type != "message" || len(msg.Attachments) != 1 ||
		msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		tb.Fatalf("not a Workflows message with one Adaptive Card: %s", body)
	}
	var card struct {
		Type    string           `json:"type"`
		Version string           `json:"version"`
		Body    []map[string]any `json:"body"`
		Actions []map[string]any `json:"actions"`
	}
	if err := json.Unmarshal(msg.Attachments[0].Content, &card); err != nil || card.Type != "AdaptiveCard" || card.Version != watch.AdaptiveCardVersion {
		tb.Fatalf("card: %s", msg.Attachments[0].Content)
	}
	allowed := map[string][]string{
		"TextBlock": {"type", "text", "weight", "size", "wrap", "color", "isSubtle"},
		"FactSet":   {"type", "facts"},
	}
	for _, el := range card.Body {
		keys, ok := allowed[el["type"].(string)]
		if !ok {
			tb.Errorf("element type %v is not used by this check", el["type"])
			continue
		}
		for k := range el {
			if !strings.Contains(strings.Join(keys, ","), k) {
				tb.Errorf("%v has property %q", el["type"], k)
			}
		}
		if el["type"] == "TextBlock" {
			if s, _ := el["text"].(string); s == "" {
				tb.Errorf("TextBlock without text: %v", el)
			}
		}
	}
	if len(card.Actions) != 1 || card.Actions[0]["type"] != "Action.OpenUrl" || !strings.HasPrefix(card.Actions[0]["url"].(string), "https://depportal.contoso.com/") {
		tb.Errorf("actions %v", card.Actions)
	}
}

func TestWatchTestWithoutChannels(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"depportal", "watch", "test"}, watchEnv(nil), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no reminder channel is configured") {
		t.Errorf("err = %v", err)
	}
}

func TestWatchOnceNeedsTheWatch(t *testing.T) {
	t.Parallel()
	err := run(context.Background(), []string{"depportal", "watch", "once"}, watchEnv(nil), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DEPPORTAL_WATCH_CLIENT_ID") {
		t.Errorf("err = %v", err)
	}
}

func TestPrintConnectors(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	cs := []watch.Connector{{Kind: watch.ADE, ID: "a", Name: "Contoso ABM", ExpiresAt: now.Add(9 * 24 * time.Hour), AppleID: "abm@contoso.com"},
		{Kind: watch.VPP, ID: "v", Name: "Contoso Apps"}}
	var table, js bytes.Buffer
	printConnectors(&table, cs, now, false)
	if !strings.Contains(table.String(), "ade   Contoso ABM   2026-12-08 12:00  9") || !strings.Contains(table.String(), "none") {
		t.Errorf("table:\n%s", table.String())
	}
	printConnectors(&js, cs, now, true)
	var rows []map[string]any
	if err := json.Unmarshal(js.Bytes(), &rows); err != nil || len(rows) != 2 || rows[0]["days_left"] != float64(9) || rows[0]["kind"] != "ade" {
		t.Errorf("json: %s", js.String())
	}
}
