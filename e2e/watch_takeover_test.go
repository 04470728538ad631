package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
	"github.com/depportal/depportal/watch"
)

var (
	pollsInstance = regexp.MustCompile(`msg="watch: this instance polls Intune" component=watch instance=(\S+)`)
	reminderInRec = regexp.MustCompile(`\breminder=(\S+)`)
)

// watchInstances are the instance IDs p's watch logged on taking the lease ("this instance
// polls Intune", once per process: on first holding it).
func watchInstances(p *portal) []string {
	var ids []string
	for _, m := range pollsInstance.FindAllStringSubmatch(p.out.String(), -1) {
		ids = append(ids, m[1])
	}
	return ids
}

// remindersSent is p's depportal_reminders_sent_total{result="sent"} over the three channels.
func remindersSent(tb testing.TB, p *portal) float64 {
	tb.Helper()
	total := 0.0
	for _, ch := range []string{watch.ChannelEmail, watch.ChannelTeams, watch.ChannelWebhook} {
		total += metricValue(tb, p, `depportal_reminders_sent_total{channel="`+ch+`",result="sent"}`)
	}
	return total
}

// outboxMessages counts, by channel, what p's sandbox outbox received (every Teams card,
// webhook call and e-mail the watch delivered to this process).
func outboxMessages(tb testing.TB, p *portal) map[string]int {
	tb.Helper()
	out := map[string]int{}
	for _, m := range mustOutbox(tb, p) {
		out[m.Channel]++
	}
	return out
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// reminderKey is a reminder's unique key in the store: kind, connector, expiry day, reason,
// channel.
func reminderKey(r watch.Reminder) string {
	return fmt.Sprintf("%s %s %s %s %s", r.Connector.Kind, r.Connector.ID, r.Connector.ExpiresAt.UTC().Format(time.DateOnly), r.Reason, r.Channel)
}

// reminderRow is what the test compares of a reminder before and after the takeover.
func reminderRow(r watch.Reminder) string {
	return fmt.Sprintf("%s %s state=%s attempts=%d sent_at=%s", r.ID, reminderKey(r), r.State, r.Attempts, r.SentAt.UTC().Format(time.RFC3339Nano))
}

func mustReminders(tb testing.TB, db *store.DB) []watch.Reminder {
	tb.Helper()
	rs, err := db.Reminders(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return rs
}

func mustWatchState(tb testing.TB, db *store.DB) watch.State {
	tb.Helper()
	st, err := db.WatchState(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// auditedReminders counts the reminder.sent records in the shared trail, by reminder ID.
func auditedReminders(tb testing.TB, db *store.DB) map[string]int {
	tb.Helper()
	out := map[string]int{}
	for r, err := range db.Records(context.Background(), audit.Filter{Type: audit.ReminderSent}, 0) {
		if err != nil {
			tb.Fatal(err)
		}
		m := reminderInRec.FindStringSubmatch(r.Reason)
		if m == nil {
			tb.Fatalf("reminder.sent record %d names no reminder: %q", r.Seq, r.Reason)
		}
		out[m[1]]++
	}
	return out
}

// TestWatchTakeoverAfterKill runs two real portal processes on one PostgreSQL database: one
// polls Intune and sends the reminders, the other does not; SIGKILL the poller (it releases
// nothing) and the other takes the lease once it runs out, reads at once, and sends no
// reminder a second time.
func TestWatchTakeoverAfterKill(t *testing.T) {
	t.Parallel()
	// Registered before the portals, so their cleanups (stopping them) run before the schema
	// is dropped.
	db, dbURL := testkit.MustPostgres(t)
	// Short, so that the takeover is waited for in seconds, yet with a tick of over a second
	// for a busy machine to renew the lease in (a tenant's interval is at least a minute:
	// lease 15 s, tick 5 s). The poller may read again before the kill; the checks allow it.
	const interval = 15 * time.Second
	lease := watch.LeaseFor(interval) // 3.75 s
	tick := lease / 3                 // (*watch.Watch).Tick: 1.25 s
	// startPortal blanks DEPPORTAL_DATABASE_URL and then appends these: exec keeps the last
	// value of a repeated variable, so both processes use the test's schema. (Were they on
	// their own SQLite files, the schema's lease would never be taken and the test fails.)
	env := []string{"DEPPORTAL_DATABASE_URL=" + dbURL, "DEPPORTAL_WATCH_INTERVAL=" + interval.String()}

	// Each sandbox dates its connectors from its own start, reminders are keyed on the expiry
	// day and an expired connector's reason is its day since expiry: a run across midnight UTC
	// would rightly make new reminders. Two minutes before midnight, the test waits for it.
	if untilMidnight := time.Now().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(time.Now()); untilMidnight < 2*time.Minute {
		t.Logf("waiting %s for midnight UTC", untilMidnight.Round(time.Second))
		time.Sleep(untilMidnight + time.Second)
	}
	// MustStartPortal's cleanup copes with the one this test kills: Signal on a finished
	// process returns an error it ignores, and a second Wait returns at once.
	portals := []*portal{MustStartPortal(t, env...), MustStartPortal(t, env...)}

	// 1. One of them takes the lease, reads the connectors and delivers every reminder; the
	// other's watch runs too (its last-success gauge comes from the shared state).
	var st watch.State
	var rows []watch.Reminder
	settled := waitFor(30*time.Second, func() bool {
		st, rows = mustWatchState(t, db), mustReminders(t, db)
		if st.Holder == "" || st.LastSuccessAt.IsZero() || len(rows) == 0 {
			return false
		}
		for _, r := range rows {
			if r.State != watch.ReminderSent {
				return false
			}
		}
		for _, p := range portals {
			if metricValue(t, p, "depportal_watch_last_success_timestamp_seconds") == 0 {
				return false
			}
		}
		return true
	})
	if !settled {
		t.Fatalf("after 30 s the watch has not read and delivered everything: state %+v, %d reminders %v", st, len(rows), rows)
	}
	var poller, survivor *portal
	for i, p := range portals {
		ids := watchInstances(p)
		switch {
		case slices.Equal(ids, []string{st.Holder}):
			poller, survivor = p, portals[1-i]
		case len(ids) != 0:
			t.Errorf("instance %d took the lease as %v, but %s holds it", i, ids, st.Holder)
		}
	}
	if poller == nil {
		t.Fatalf("neither process logged taking the lease as %s, its holder in the database", st.Holder)
	}
	if got := watchInstances(survivor); len(got) != 0 {
		t.Fatalf("both processes took the lease: the other as %v", got)
	}
	for _, c := range []struct {
		p            *portal
		who          string
		polls, sends float64
		outbox       int
	}{
		{poller, "the poller", 1, float64(len(rows)), len(rows)},
		{survivor, "the other", 0, 0, 0},
	} {
		// The poller may have read again by now (an interval is 15 s); the other never.
		ok, failed := metricValue(t, c.p, `depportal_watch_polls_total{result="ok"}`), metricValue(t, c.p, `depportal_watch_polls_total{result="failed"}`)
		if (c.polls == 0) != (ok == 0) || failed != 0 {
			t.Errorf("%s read Intune %v times (%v failed), want %s", c.who, ok, failed, map[bool]string{true: "never", false: "at least once"}[c.polls == 0])
		}
		if got := remindersSent(t, c.p); got != c.sends {
			t.Errorf("%s sent %v reminders, want %v", c.who, got, c.sends)
		}
		if got := outboxMessages(t, c.p); sum(got) != c.outbox {
			t.Errorf("%s's outbox received %v, want %d messages", c.who, got, c.outbox)
		}
	}

	// The reminders are one per connector, threshold and channel: exactly what the read calls
	// for, each made once, and each recorded once in the shared audit trail.
	connectors, err := db.WatchConnectors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, c := range connectors {
		for _, reason := range watch.Reasons(c, st.LastSuccessAt, watch.DefaultReminderDays) {
			for _, ch := range []string{watch.ChannelEmail, watch.ChannelTeams, watch.ChannelWebhook} {
				want = append(want, reminderKey(watch.Reminder{Connector: c, Reason: reason, Channel: ch}))
			}
		}
	}
	var got, before []string
	for _, r := range rows {
		got, before = append(got, reminderKey(r)), append(before, reminderRow(r))
	}
	slices.Sort(want)
	slices.Sort(got)
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("reminders in the database:\n%s\nwant one per connector, threshold and channel:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	audited := auditedReminders(t, db)
	for _, r := range rows {
		if audited[r.ID] != 1 {
			t.Errorf("reminder %s (%s) is in the audit trail %d times, want once", r.ID, reminderKey(r), audited[r.ID])
		}
	}
	if len(audited) != len(rows) {
		t.Errorf("the audit trail records %d reminders, the database holds %d", len(audited), len(rows))
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("instance %s polled and sent %d reminders (%d connectors)", st.Holder, len(rows), len(connectors))

	// 2. SIGKILL the poller: no shutdown, so its lease is not released and runs out on its own
	// (at most one lease after the kill, as it renews every tick). A random pause first puts
	// the kill anywhere in the renewal cycle, not always just after a renewal.
	time.Sleep(rand.N(tick))
	killed := time.Now()
	if err := poller.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	poller.cmd.Wait()
	// Read once it is dead, so that no renewal comes after: the lease as it left it.
	dead := mustWatchState(t, db)
	if dead.Holder != st.Holder {
		t.Fatalf("the lease changed hands before it could run out: %s holds it, not the killed %s", dead.Holder, st.Holder)
	}

	// The survivor tries the lease every tick: it holds it at most a tick after the dead lease
	// ran out, i.e. within lease + tick of the kill; lease + 2 ticks is the bound, allowing
	// for a slow machine.
	var taken watch.State
	if !waitFor(40*time.Second, func() bool {
		taken = mustWatchState(t, db)
		return taken.Holder != dead.Holder && taken.Holder != ""
	}) {
		t.Fatalf("40 s after the poller was killed nobody else holds the lease: %+v (the dead one's ran to %s)", taken, dead.LeaseUntil.Format(time.TimeOnly))
	}
	takeover := time.Since(killed)
	t.Logf("takeover %.1f s after SIGKILL (the dead lease ran out %.1f s after the kill; lease %s, tick %s)",
		takeover.Seconds(), dead.LeaseUntil.Sub(killed).Seconds(), lease, tick)
	if takeover > lease+2*tick {
		t.Errorf("the survivor took the lease %s after the kill, want within lease + 2 ticks (%s)", takeover.Round(time.Millisecond), lease+2*tick)
	}
	if ids := watchInstances(survivor); !slices.Equal(ids, []string{taken.Holder}) {
		t.Fatalf("the lease is held by %s, but the survivor logged taking it as %v", taken.Holder, ids)
	}

	// 3. On taking over, an instance reads at once (it does not wait for the dead one's next
	// read, an interval later), so its reminders are made now: wait for that read, then for
	// its next round (the lease renewed), so that the takeover round's deliveries are done.
	if !waitFor(3*tick, func() bool {
		st = mustWatchState(t, db)
		return st.Holder == taken.Holder && st.LastSuccessAt.After(killed) && st.LeaseUntil.After(taken.LeaseUntil)
	}) {
		t.Fatalf("the survivor neither read Intune nor renewed its lease after taking over: %+v", st)
	}
	if ok := metricValue(t, survivor, `depportal_watch_polls_total{result="ok"}`); ok != 1 {
		t.Errorf("the survivor read Intune %v times since it took over, want 1", ok)
	}

	// Nothing was sent a second time: the same rows, untouched; nothing delivered by the
	// survivor; nothing more in the audit trail.
	var after []string
	for _, r := range mustReminders(t, db) {
		after = append(after, reminderRow(r))
	}
	if !slices.Equal(after, before) {
		t.Errorf("the reminders changed after the takeover:\nbefore:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
	if n := remindersSent(t, survivor); n != 0 {
		t.Errorf("the survivor sent %v reminders after taking over; the dead poller had sent them all", n)
	}
	if got := outboxMessages(t, survivor); sum(got) != 0 {
		t.Errorf("the survivor's outbox received %v after the takeover", got)
	}
	if now := auditedReminders(t, db); !maps.Equal(now, audited) {
		t.Errorf("the audit trail's reminders went from %v to %v", audited, now)
	}
}
