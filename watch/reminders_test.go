package watch_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/metrics"
	"github.com/depportal/depportal/store"
	"github.com/depportal/depportal/watch"
)

// fakeChannel keeps what it carried; fail, while set, makes it refuse.
type fakeChannel struct {
	name string
	mu   sync.Mutex
	got  []watch.Message
	fail error
	// afterSend, when set, runs once a message has arrived (a shutdown beginning while the
	// sender waits for the receiver's answer).
	afterSend func()
}

func (f *fakeChannel) Name() string { return f.name }

// Send refuses a cancelled context, as the real channels' HTTP and SMTP clients do.
func (f *fakeChannel) Send(ctx context.Context, m watch.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	if f.fail != nil {
		f.mu.Unlock()
		return f.fail
	}
	f.got = append(f.got, m)
	f.mu.Unlock()
	if f.afterSend != nil {
		f.afterSend()
	}
	return nil
}

func (f *fakeChannel) Reasons() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, m := range f.got {
		out = append(out, m.Connector.ID+":"+m.Reason)
	}
	slices.Sort(out)
	return out
}

func (f *fakeChannel) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

type fakeAudit struct {
	mu      sync.Mutex
	entries []audit.Entry
}

// Append refuses a cancelled context, as the trail does.
func (a *fakeAudit) Append(ctx context.Context, e audit.Entry) (audit.Record, error) {
	if err := ctx.Err(); err != nil {
		return audit.Record{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.entries = append(a.entries, e)
	return audit.Record{Entry: e}, nil
}

func (a *fakeAudit) Entries() []audit.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.entries)
}

func MustRemindingWatch(tb testing.TB, db *store.DB, intune watch.Intune, clock *testkit.Clock, trail watch.Auditor, channels ...watch.Channel) (*watch.Watch, *metrics.Metrics) {
	tb.Helper()
	m := metrics.New()
	w, err := watch.New(watch.Config{Intune: intune, Credentials: noCredentials{}, Store: db, Metrics: m, Interval: 6 * time.Hour, Now: clock.Now,
		Reminders: &watch.Reminders{Channels: channels, Store: db, Audit: trail, PortalURL: "https://depportal.contoso.com", TenantID: "tid"}})
	if err != nil {
		tb.Fatal(err)
	}
	return w, m
}

func TestReasons(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	days := watch.DefaultReminderDays
	for _, tc := range []struct {
		name string
		c    watch.Connector
		want string
	}{
		{"45 days", watch.Connector{Kind: watch.APNs, ExpiresAt: now.Add(45 * day)}, ""},
		{"exactly 30 days", watch.Connector{Kind: watch.VPP, ExpiresAt: now.Add(30 * day)}, "30d"},
		{"20 days", watch.Connector{Kind: watch.VPP, ExpiresAt: now.Add(20 * day)}, "30d"},
		{"9 days: the nearest threshold only", watch.Connector{Kind: watch.ADE, ExpiresAt: now.Add(9 * day)}, "14d"},
		{"an hour", watch.Connector{Kind: watch.ADE, ExpiresAt: now.Add(time.Hour)}, "1d"},
		{"just expired", watch.Connector{Kind: watch.ADE, ExpiresAt: now.Add(-time.Minute)}, "expired-day-0"},
		{"expired 3 days", watch.Connector{Kind: watch.ADE, ExpiresAt: now.Add(-3*day - time.Hour)}, "expired-day-3"},
		{"sync error", watch.Connector{Kind: watch.ADE, ExpiresAt: now.Add(200 * day), SyncErrorCode: 5, LastSyncAt: now.Add(-day)},
			"sync-error-5-" + strconv.FormatInt(now.Add(-day).Unix(), 10)},
		{"sync error and expired", watch.Connector{Kind: watch.ADE, ExpiresAt: now.Add(-day), SyncErrorCode: 5},
			"sync-error-5--62135596800,expired-day-1"},
		{"no expiry", watch.Connector{Kind: watch.VPP}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(watch.Reasons(tc.c, now, days), ","); got != tc.want {
				t.Errorf("reasons = %q, want %q", got, tc.want)
			}
		})
	}
}

// The sandbox's connectors: the 9-day and the expired ADE tokens (its last sync failed) and
// the 20-day VPP token get reminders; the healthy ones and the 45-day push certificate do not.
// A restart sends none again, and renewing the 9-day token stops its reminders.
func TestRemindersOncePerThresholdAcrossRestarts(t *testing.T) {
	t.Parallel()
	db := testkit.MustSQLite(t)
	clock := testkit.NewClock()
	intune := newIntune(clock.Now())
	teams, mail := &fakeChannel{name: watch.ChannelTeams}, &fakeChannel{name: watch.ChannelEmail}
	trail := &fakeAudit{}
	w, m := MustRemindingWatch(t, db, intune, clock, trail, teams, mail)
	ctx := context.Background()
	w.Step(ctx)

	// The expired token's last sync failed and it never synced: the year 1 is "never".
	want := []string{"ade-gone:expired-day-3", "ade-gone:sync-error-5--62135596800", "ade-soon:14d", "vpp-1:30d"}
	slices.Sort(want)
	for _, ch := range []*fakeChannel{teams, mail} {
		if got := ch.Reasons(); !slices.Equal(got, want) {
			t.Errorf("%s carried %v, want %v", ch.name, got, want)
		}
	}
	if got := MustScrape(t, m, `depportal_reminders_sent_total{channel="teams",result="sent"}`); len(got) != 1 || !strings.HasSuffix(got[0], " 4") {
		t.Errorf("sent counter: %v", got)
	}
	entries := trail.Entries()
	if len(entries) != 8 {
		t.Fatalf("%d audit entries, want one per reminder per channel (8)", len(entries))
	}
	for _, e := range entries {
		if e.Type != audit.ReminderSent || e.Outcome != "" || e.Route == "" || e.Setting.ID == "" || !strings.Contains(e.Reason, "kind=") {
			t.Errorf("audit entry %+v", e)
		}
	}

	// A restart: a new Watch on the same database reads again and finds nothing new to send.
	clock.Advance(time.Minute)
	w2, _ := MustRemindingWatch(t, db, intune, clock, trail, teams, mail)
	w2.Step(ctx) // w's lease still runs: w2 waits
	clock.Advance(w.Tick() * 4)
	w2.Step(ctx) // w is gone: w2 takes over and reads at once
	if intune.Reads() != 2 {
		t.Fatalf("reads %d: the restarted watch did not read", intune.Reads())
	}
	if got := teams.Reasons(); len(got) != 4 {
		t.Errorf("after the restart Teams carried %d reminders, want still 4: %v", len(got), got)
	}

	// Renewing the 9-day token: its reminders stop, though its old thresholds come and go.
	intune.mu.Lock()
	intune.settings[0].TokenExpirationDateTime = clock.Now().Add(365 * day)
	intune.mu.Unlock()
	for range 12 { // three days of reads
		clock.Advance(6 * time.Hour)
		w2.Step(ctx)
	}
	for _, r := range teams.Reasons() {
		if strings.HasPrefix(r, "ade-soon:") && r != "ade-soon:14d" {
			t.Errorf("a renewed token got reminder %s", r)
		}
	}
	// The expired one gets one a day.
	got := teams.Reasons()
	for _, d := range []string{"4", "5", "6"} {
		if !slices.Contains(got, "ade-gone:expired-day-"+d) {
			t.Errorf("no daily reminder for day %s after expiry: %v", d, got)
		}
	}
	if n := strings.Count(strings.Join(got, ","), "ade-gone:expired-day-4"); n != 1 {
		t.Errorf("day 4 sent %d times", n)
	}
}

func TestFailingChannelIsRetriedAndCounted(t *testing.T) {
	t.Parallel()
	db := testkit.MustSQLite(t)
	clock := testkit.NewClock()
	intune := newIntune(clock.Now())
	intune.settings = intune.settings[:1] // only the 9-day token
	intune.vpp = nil
	hook, teams := &fakeChannel{name: watch.ChannelWebhook}, &fakeChannel{name: watch.ChannelTeams}
	hook.Fail(errors.New("POST to hooks.example: 500 Internal Server Error"))
	trail := &fakeAudit{}
	w, m := MustRemindingWatch(t, db, intune, clock, trail, hook, teams)
	ctx := context.Background()

	w.Step(ctx)
	if len(teams.Reasons()) != 1 {
		t.Errorf("a failing webhook held up Teams: %v", teams.Reasons())
	}
	w.Step(ctx) // not due again yet
	clock.Advance(59 * time.Second)
	w.Step(ctx)
	if got := MustScrape(t, m, `depportal_reminders_sent_total{channel="webhook",result="retry"}`); len(got) != 1 || !strings.HasSuffix(got[0], " 1") {
		t.Errorf("retried before its minute: %v", got)
	}
	clock.Advance(2 * time.Second) // one minute after the first attempt
	w.Step(ctx)
	clock.Advance(2 * time.Minute) // then two
	hook.Fail(nil)
	w.Step(ctx)
	if len(hook.Reasons()) != 1 {
		t.Fatalf("the webhook never got it after recovering: %v", hook.Reasons())
	}
	for result, want := range map[string]string{"retry": " 2", "sent": " 1", "failed": " 0"} {
		if got := MustScrape(t, m, `depportal_reminders_sent_total{channel="webhook",result="`+result+`"}`); len(got) != 1 || !strings.HasSuffix(got[0], want) {
			t.Errorf("%s: %v, want%s", result, got, want)
		}
	}
	rems, _ := db.Reminders(ctx)
	for _, r := range rems {
		if r.Channel == watch.ChannelWebhook && (r.State != watch.ReminderSent || r.Attempts != 3) {
			t.Errorf("webhook reminder %+v", r)
		}
	}

	// A channel that never recovers is given up after MaxAttempts, and that is recorded.
	hook.Fail(errors.New("dial tcp 127.0.0.1:9: connect: connection refused"))
	intune.mu.Lock()
	intune.settings[0].TokenExpirationDateTime = clock.Now().Add(5 * day) // a later threshold: 7d
	intune.mu.Unlock()
	clock.Advance(6 * time.Hour)
	for range 40 {
		w.Step(ctx)
		clock.Advance(time.Hour)
	}
	if got := MustScrape(t, m, `depportal_reminders_sent_total{channel="webhook",result="failed"}`); len(got) != 1 || !strings.HasSuffix(got[0], " 1") {
		t.Errorf("given up: %v", got)
	}
	var failed []audit.Entry
	for _, e := range trail.Entries() {
		if e.Outcome == audit.Failure {
			failed = append(failed, e)
		}
	}
	if len(failed) != 1 || failed[0].Route != watch.ChannelWebhook || !strings.Contains(failed[0].Reason, "connection refused") ||
		!strings.Contains(failed[0].Reason, "attempts=8") {
		t.Errorf("the given-up reminder's record: %+v", failed)
	}
}

// Two instances on one PostgreSQL database, each with its own channels, stepping side by side
// through two days: each threshold is delivered once in all, and when the sender dies the
// survivor carries on without repeating any.
// A shutdown that begins while a reminder is on its way: the one that went out is recorded as
// sent, in the database and the audit trail, even though the shutdown came first; the others
// stay pending and untried; the next start sends each of those once, and that one not again.
func TestShutdownDuringDeliveryRecordsWhatWentOut(t *testing.T) {
	t.Parallel()
	db := testkit.MustSQLite(t)
	clock := testkit.NewClock()
	intune := newIntune(clock.Now())
	ctx, shutdown := context.WithCancel(context.Background())
	teams := &fakeChannel{name: watch.ChannelTeams, afterSend: shutdown}
	trail := &fakeAudit{}
	w, _ := MustRemindingWatch(t, db, intune, clock, trail, teams)
	w.Step(ctx)

	sent := teams.Reasons()
	if len(sent) != 1 {
		t.Fatalf("sent %v before the shutdown, want exactly one", sent)
	}
	if e := trail.Entries(); len(e) != 1 || e[0].Type != audit.ReminderSent || e[0].Outcome != "" {
		t.Errorf("audit trail after the shutdown: %+v, want the one reminder sent", e)
	}
	rows, err := db.Reminders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, r := range rows {
		states = append(states, fmt.Sprintf("%s:%s %s attempts=%d", r.Connector.ID, r.Reason, r.State, r.Attempts))
	}
	slices.Sort(states)
	want := []string{
		"ade-gone:expired-day-3 pending attempts=0", "ade-gone:sync-error-5--62135596800 pending attempts=0",
		"ade-soon:14d pending attempts=0", "vpp-1:30d pending attempts=0",
	}
	for i, s := range want {
		if strings.HasPrefix(s, sent[0]+" ") {
			want[i] = sent[0] + " sent attempts=1"
		}
	}
	if !slices.Equal(states, want) {
		t.Errorf("reminders after the shutdown:\n%s\nwant:\n%s", strings.Join(states, "\n"), strings.Join(want, "\n"))
	}

	// The next start (the lease left to run out, as after a crash) sends the rest, once.
	clock.Advance(w.Tick() * 4)
	w2, _ := MustRemindingWatch(t, db, intune, clock, trail, teams)
	w2.Step(context.Background())
	all := []string{"ade-gone:expired-day-3", "ade-gone:sync-error-5--62135596800", "ade-soon:14d", "vpp-1:30d"}
	if got := teams.Reasons(); !slices.Equal(got, all) {
		t.Errorf("sent over both starts %v, want each of %v once", got, all)
	}
	if n := len(trail.Entries()); n != len(all) {
		t.Errorf("%d audit records over both starts, want %d", n, len(all))
	}
}

func TestTwoInstancesOneReminderPerThreshold(t *testing.T) {
	t.Parallel()
	db, _ := testkit.MustPostgres(t)
	clock := testkit.NewClock()
	intune := newIntune(clock.Now())
	chA, chB := &fakeChannel{name: watch.ChannelTeams}, &fakeChannel{name: watch.ChannelTeams}
	a, _ := MustRemindingWatch(t, db, intune, clock, &fakeAudit{}, chA)
	b, _ := MustRemindingWatch(t, db, intune, clock, &fakeAudit{}, chB)
	ctx := context.Background()
	// Steps 4 minutes apart: within the 5-minute lease, so a live holder keeps it.
	step := 4 * time.Minute
	for i := range int(2 * day / step) {
		if i < int(day/step) { // a dies after a day
			a.Step(ctx)
		}
		b.Step(ctx)
		clock.Advance(step)
	}
	all := append(chA.Reasons(), chB.Reasons()...)
	seen := map[string]int{}
	for _, r := range all {
		seen[r]++
	}
	for r, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", r, n)
		}
	}
	for _, want := range []string{"ade-soon:14d", "vpp-1:30d", "ade-gone:expired-day-3", "ade-gone:expired-day-4"} {
		if seen[want] != 1 {
			t.Errorf("%s not delivered (got %v)", want, all)
		}
	}
}
