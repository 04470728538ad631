//go:build !nosandbox

package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/app"
	"github.com/depportal/depportal/config"
	"github.com/depportal/depportal/sandbox"
)

type runningPortal struct {
	app  *app.App
	url  string
	stop func()
}

// MustStartSandbox starts the sandbox portal on dataDir as main does, nobody signed in.
func MustStartSandbox(tb testing.TB, dataDir string) *runningPortal {
	tb.Helper()
	return MustStartApp(tb, dataDir, app.Options{Logs: io.Discard, Sandbox: app.SandboxOptions{Watch: true}})
}

// MustStartApp starts a sandbox app on dataDir with opts, and stops it when the test ends.
func MustStartApp(tb testing.TB, dataDir string, opts app.Options) *runningPortal {
	tb.Helper()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{"DEPPORTAL_DATA_DIR": dataDir, "DEPPORTAL_LISTEN": "127.0.0.1:0"}[k]
	})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg.WithListener(ln.Addr()), opts)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, ln) }()
	p := &runningPortal{app: a, url: a.Config().PublicURL.String()}
	p.stop = func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	}
	tb.Cleanup(func() {
		if ctx.Err() == nil {
			p.stop()
		}
	})
	return p
}

// MustWaitFor waits for cond, checking every 20 ms for at most 20 s: the watch runs on its own
// goroutine, and this waits for what it does, not for time to pass.
func MustWaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func summaries(msgs []sandbox.OutboxMessage, channel string) []string {
	var out []string
	for _, m := range msgs {
		if m.Channel == channel {
			out = append(out, m.Summary)
		}
	}
	return out
}

// The sandbox started with nobody signing in: within one read, /metrics shows the expiry of
// all three kinds, and the outbox holds reminders on every channel for the 9-day and the
// expired ADE tokens and the 20-day VPP token, through the real channel code. A restart on
// the same data sends none again.
func TestSandboxWatchRemindsWithNobodySignedIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := MustStartSandbox(t, dir)
	outbox := p.app.Tenant().Outbox
	MustWaitFor(t, "nine reminders (three connectors, three channels)", func() bool { return len(outbox.Messages()) >= 9 })

	msgs := outbox.Messages()
	for _, ch := range []string{"teams", "webhook", "email"} {
		got := strings.Join(summaries(msgs, ch), "\n")
		for _, want := range []string{`"Contoso ABM" expires in 9 days`, `"Contoso Retail ABM" expired on`, `"Contoso Apps and Books" expires in 20 days`} {
			if !strings.Contains(got, want) {
				t.Errorf("%s lacks %q:\n%s", ch, want, got)
			}
		}
		if strings.Contains(got, "push certificate") || strings.Contains(got, "Schools") {
			t.Errorf("%s carried a reminder for a connector outside the thresholds:\n%s", ch, got)
		}
	}
	for _, m := range msgs {
		if !m.Verified {
			t.Errorf("%s message not verified (signature, or STARTTLS and AUTH): %s", m.Channel, m.Summary)
		}
	}
	if len(msgs) != 9 {
		t.Errorf("%d messages, want 9", len(msgs))
	}

	// The receiving end can hold a message before the sender has finished its side and counted
	// it: wait for the count, not for time.
	MustWaitFor(t, "three e-mails counted as sent", func() bool {
		return strings.Contains(mustGet(t, p.url+"/metrics"), `depportal_reminders_sent_total{channel="email",result="sent"} 3`)
	})
	metrics := mustGet(t, p.url+"/metrics")
	for _, want := range []string{`depportal_apple_connector_expiry_timestamp_seconds{kind="ade",name="Contoso ABM"}`,
		`depportal_apple_connector_expiry_timestamp_seconds{kind="vpp",name="Contoso Apps and Books"}`,
		`depportal_apple_connector_expiry_timestamp_seconds{kind="apns",`,
		`depportal_reminders_sent_total{channel="email",result="sent"} 3`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if page := mustGet(t, p.url+"/_sandbox/outbox"); !strings.Contains(page, "Contoso Apps and Books") {
		t.Errorf("the outbox page does not list the messages")
	}
	p.stop()

	// A restart reads again (at start) and sends nothing new.
	q := MustStartSandbox(t, dir)
	MustWaitFor(t, "the restarted watch's read", func() bool {
		return strings.Contains(mustGet(t, q.url+"/metrics"), `depportal_watch_polls_total{result="ok"} 1`)
	})
	q.stop() // deliveries of a read finish within the same step, before Run returns
	if n := len(q.app.Tenant().Outbox.Messages()); n != 0 {
		t.Errorf("the restart sent %d reminders again", n)
	}
}

func mustGet(tb testing.TB, url string) string {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
