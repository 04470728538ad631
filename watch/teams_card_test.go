package watch_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/watch"
)

// workflowsHook is a Teams Workflows webhook that keeps the bodies it receives.
type workflowsHook struct {
	mu     sync.Mutex
	bodies [][]byte
}

func (w *workflowsHook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.bodies = append(w.bodies, body)
	w.mu.Unlock()
	rw.WriteHeader(http.StatusAccepted) // what Workflows answers
}

func (w *workflowsHook) take(tb testing.TB) []byte {
	tb.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.bodies) != 1 {
		tb.Fatalf("the webhook received %d bodies, want 1", len(w.bodies))
	}
	b := w.bodies[0]
	w.bodies = nil
	return b
}

// MustWorkflowsCard checks the envelope a Teams Workflows webhook ("When a Teams webhook
// request is received") takes, and returns the card inside:
//
//	{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","content":{…}}]}
func MustWorkflowsCard(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		tb.Fatalf("the body is not a JSON object: %v: %s", err, body)
	}
	if keys := slices.Sorted(maps.Keys(msg)); !slices.Equal(keys, []string{"attachments", "type"}) {
		tb.Fatalf("the message has members %v, want type and attachments: %s", keys, body)
	}
	if typ := string(msg["type"]); typ != `"message"` {
		tb.Fatalf("the message's type is %s, want \"message\"", typ)
	}
	var attachments []map[string]json.RawMessage
	if err := json.Unmarshal(msg["attachments"], &attachments); err != nil || len(attachments) != 1 {
		tb.Fatalf("want exactly one attachment (%v): %s", err, msg["attachments"])
	}
	a := attachments[0]
	for k, v := range a {
		switch {
		case k == "contentType" || k == "content":
		case k == "contentUrl" && string(v) == "null":
		default:
			tb.Errorf("the attachment has an unexpected member %s: %s", k, v)
		}
	}
	if ct := string(a["contentType"]); ct != `"application/vnd.microsoft.card.adaptive"` {
		tb.Fatalf("the attachment's contentType is %s", ct)
	}
	if c := a["content"]; len(c) == 0 || c[0] != '{' {
		tb.Fatalf("the attachment's content is not an object: %s", c)
	}
	return a["content"]
}

type sdkVerdict struct {
	Version string
	Events  []struct{ Event, Message string }
}

// MustCheckCards parses each card with Microsoft's Adaptive Cards SDK for the version it
// declares and validates its properties (testdata/validate-card.js): what a Teams client would
// drop or refuse is an event.
func MustCheckCards(tb testing.TB, cards ...[]byte) []sdkVerdict {
	tb.Helper()
	node, sdk := testkit.MustAdaptiveCards(tb)
	dir := tb.TempDir()
	args := []string{"testdata/validate-card.js", sdk}
	for i, c := range cards {
		f := filepath.Join(dir, strconv.Itoa(i)+".json")
		if err := os.WriteFile(f, c, 0o600); err != nil {
			tb.Fatal(err)
		}
		args = append(args, f)
	}
	out, err := exec.Command(node, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		tb.Fatalf("the Adaptive Cards SDK: %v\n%s", err, stderr)
	}
	var verdicts []sdkVerdict
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var v sdkVerdict
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			tb.Fatalf("the SDK's answer %q: %v", sc.Text(), err)
		}
		verdicts = append(verdicts, v)
	}
	if len(verdicts) != len(cards) {
		tb.Fatalf("the SDK answered for %d cards of %d:\n%s", len(verdicts), len(cards), out)
	}
	return verdicts
}

// The Teams message the real code posts, for each kind of reminder, is the envelope Workflows
// takes around a card that Microsoft's Adaptive Cards SDK parses, at the version the card
// declares, without a single complaint.
func TestTeamsCardsPassTheAdaptiveCardsSDK(t *testing.T) {
	t.Parallel()
	hook := &workflowsHook{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	teams := &watch.Teams{URL: srv.URL, HTTPClient: srv.Client()}
	const portal = "https://depportal.contoso.com"
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	lastSync := now.Add(-26 * time.Hour)

	cases := []struct {
		name   string
		c      watch.Connector
		reason string
		test   bool
	}{
		{"ADE token in 9 days", watch.Connector{Kind: watch.ADE, ID: "ade-soon", Name: "Contoso ABM", ExpiresAt: now.Add(9 * day),
			AppleID: "abm-admin@contoso.com"}, "14d", false},
		{"expired ADE token", watch.Connector{Kind: watch.ADE, ID: "ade-gone", Name: "Contoso Retail ABM", ExpiresAt: now.Add(-3*day - time.Hour)},
			watch.ReasonExpired + "3", false},
		{"ADE token that failed to sync", watch.Connector{Kind: watch.ADE, ID: "ade-sync", Name: "Contoso <Schools> ABM", ExpiresAt: now.Add(200 * day),
			SyncErrorCode: 5, LastSyncAt: lastSync}, watch.ReasonSyncError + "5-" + strconv.FormatInt(lastSync.Unix(), 10), false},
		{"Apps and Books token in 20 days", watch.Connector{Kind: watch.VPP, ID: "vpp-1", Name: "Contoso Apps", ExpiresAt: now.Add(20 * day),
			AppleID: "vpp@contoso.com", State: "valid"}, "30d", false},
		{"push certificate within a day", watch.Connector{Kind: watch.APNs, ID: "apns", Name: "com.apple.mgmt.External.1",
			ExpiresAt: now.Add(5 * time.Hour), AppleID: "mdm-push@contoso.com"}, "1d", false},
		{"watch test sample", watch.Connector{Kind: watch.ADE, ID: "00000000-0000-0000-0000-000000000000", Name: "Sample ADE token",
			ExpiresAt: now.Add(14 * day), AppleID: "abm-admin@example.com"}, "14d", true},
	}
	var cards [][]byte
	for _, tc := range cases {
		m := watch.Message{ID: "3f0c6a52-1d0e-4c55-9d4e-2f8f1b7c9e10", Connector: tc.c, Reason: tc.reason, At: now,
			PortalURL: watch.PortalLink(portal, tc.c), Test: tc.test}
		if err := teams.Send(context.Background(), m); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		cards = append(cards, MustWorkflowsCard(t, hook.take(t)))
	}
	for i, v := range MustCheckCards(t, cards...) {
		if v.Version != watch.AdaptiveCardVersion {
			t.Errorf("%s: the SDK read version %q, want %s", cases[i].name, v.Version, watch.AdaptiveCardVersion)
		}
		for _, e := range v.Events {
			t.Errorf("%s: %s: %s\ncard: %s", cases[i].name, e.Event, e.Message, cards[i])
		}
	}
}

// The check can fail: a misspelled element, a link without its URL, an unknown size and an
// action newer than the declared version are each named.
func TestAdaptiveCardsSDKNamesWhatIsWrong(t *testing.T) {
	t.Parallel()
	broken := [][]byte{
		[]byte(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlok","text":"x"}]}`),
		[]byte(`{"type":"AdaptiveCard","version":"1.4","body":[],"actions":[{"type":"Action.OpenUrl","title":"Open"}]}`),
		[]byte(`{"type":"AdaptiveCard","version":"1.4","body":[{"type":"TextBlock","text":"x","size":"Huge"}]}`),
		[]byte(`{"type":"AdaptiveCard","version":"1.2","body":[],"actions":[{"type":"Action.Execute","title":"Run"}]}`),
	}
	want := []string{"UnknownElementType", "PropertyCantBeNull", "InvalidPropertyValue", "UnknownActionType"}
	for i, v := range MustCheckCards(t, broken...) {
		var got []string
		for _, e := range v.Events {
			got = append(got, e.Event)
		}
		if !slices.Contains(got, want[i]) {
			t.Errorf("%s: the SDK said %v, want %s", broken[i], strings.Join(got, ", "), want[i])
		}
	}
}
