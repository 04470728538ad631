package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
	"github.com/depportal/depportal/watch"
)

// forEachEngine runs f on a fresh SQLite database and a fresh PostgreSQL schema.
func forEachEngine(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); f(t, testkit.MustSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		db, _ := testkit.MustPostgres(t)
		f(t, db)
	})
}

func mustTake(t *testing.T, db *store.DB, holder string, now time.Time, want bool) {
	t.Helper()
	got, err := db.TakeWatchLease(context.Background(), holder, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("%s takes the lease at %s: %v, want %v", holder, now.Format(time.TimeOnly), got, want)
	}
}

func TestWatchLease(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
		mustTake(t, db, "a", t0, true)
		mustTake(t, db, "b", t0.Add(30*time.Second), false)  // a's lease runs to t0+1m
		mustTake(t, db, "a", t0.Add(50*time.Second), true)   // renewed to t0+1m50s
		mustTake(t, db, "b", t0.Add(100*time.Second), false) // still a's
		mustTake(t, db, "b", t0.Add(110*time.Second), true)  // a stopped renewing: b takes over
		mustTake(t, db, "a", t0.Add(120*time.Second), false)
		if err := db.ReleaseWatchLease(ctx, "a"); err != nil { // not a's to release
			t.Fatal(err)
		}
		mustTake(t, db, "a", t0.Add(121*time.Second), false)
		if err := db.ReleaseWatchLease(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		mustTake(t, db, "a", t0.Add(122*time.Second), true) // released: taken at once
		st, err := db.WatchState(ctx)
		if err != nil || st.Holder != "a" || !st.LeaseUntil.Equal(t0.Add(182*time.Second)) {
			t.Errorf("state %+v, %v", st, err)
		}
	})
}

func TestWatchClaimPoll(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
		claim := func(holder string, now time.Time, force bool) bool {
			t.Helper()
			ok, err := db.ClaimWatchPoll(ctx, holder, now, force, now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if claim("a", t0, false) {
			t.Error("claimed a read without holding the lease")
		}
		mustTake(t, db, "a", t0, true)
		if !claim("a", t0, false) {
			t.Fatal("first read not claimed (never read before: due)")
		}
		if claim("a", t0.Add(time.Second), false) {
			t.Error("a second claim got the same read")
		}
		if !claim("a", t0.Add(2*time.Second), true) {
			t.Error("a forced claim (the first after taking the lease) was refused")
		}
		if err := db.SaveWatchRead(ctx, nil, t0.Add(3*time.Second), t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		mustTake(t, db, "a", t0.Add(50*time.Second), true)
		if claim("a", t0.Add(50*time.Second), false) {
			t.Error("claimed before the next read was due")
		}
		// b takes over after a's lease ran out; the schedule is shared, so b reads when due.
		mustTake(t, db, "b", t0.Add(2*time.Hour), true)
		if claim("a", t0.Add(2*time.Hour), true) {
			t.Error("a claimed a read while b holds the lease")
		}
		if !claim("b", t0.Add(2*time.Hour), false) {
			t.Error("b could not claim the overdue read")
		}
	})
}

func TestWatchReadSavedAndReplaced(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 29, 9, 0, 0, 123000, time.UTC)
		first := []watch.Connector{
			{Kind: watch.APNs, ID: "p", Name: "com.apple.mgmt.External.x", ExpiresAt: t0.Add(45 * 24 * time.Hour), AppleID: "push@contoso.com"},
			{Kind: watch.ADE, ID: "a1", Name: "Contoso ABM", ExpiresAt: t0.Add(9 * 24 * time.Hour), AppleID: "abm@contoso.com", LastSyncAt: t0.Add(-time.Hour), SyncErrorCode: 7},
			{Kind: watch.VPP, ID: "v1", Name: "Contoso Apps", ExpiresAt: t0.Add(20 * 24 * time.Hour), State: "valid"},
			{Kind: watch.ADE, ID: "a2", Name: "Retail", ExpiresAt: t0.Add(-3 * 24 * time.Hour)},
		}
		if err := db.SaveWatchRead(ctx, first, t0, t0.Add(6*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, err := db.WatchConnectors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		order := ""
		for _, c := range got {
			order += c.ID + " "
		}
		if order != "a2 a1 v1 p " {
			t.Errorf("order %q, want kind then soonest expiry", order)
		}
		if a1 := got[1]; a1.SyncErrorCode != 7 || a1.AppleID != "abm@contoso.com" || !a1.LastSyncAt.Equal(t0.Add(-time.Hour)) || !a1.ExpiresAt.Equal(first[1].ExpiresAt) {
			t.Errorf("a1 read back as %+v", a1)
		}
		if got[2].State != "valid" {
			t.Errorf("v1 read back as %+v", got[2])
		}
		st, _ := db.WatchState(ctx)
		if !st.LastSuccessAt.Equal(t0) || !st.NextPollAt.Equal(t0.Add(6*time.Hour)) || st.Failures != 0 {
			t.Errorf("state %+v", st)
		}

		// A failure keeps the last good read and counts.
		if err := db.SaveWatchFailure(ctx, "read the push certificate: 503\x00\xff", t0.Add(6*time.Hour), t0.Add(6*time.Hour+time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.SaveWatchFailure(ctx, "again", t0.Add(7*time.Hour), t0.Add(7*time.Hour+2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		st, _ = db.WatchState(ctx)
		if st.Failures != 2 || st.LastError != "again" || !st.LastSuccessAt.Equal(t0) {
			t.Errorf("after failures: %+v", st)
		}
		if got, _ := db.WatchConnectors(ctx); len(got) != 4 {
			t.Errorf("a failure dropped connectors: %d left", len(got))
		}

		// A renewal (new expiry) and a deleted token: the next read replaces everything.
		second := []watch.Connector{{Kind: watch.ADE, ID: "a1", Name: "Contoso ABM", ExpiresAt: t0.Add(365 * 24 * time.Hour)}}
		if err := db.SaveWatchRead(ctx, second, t0.Add(8*time.Hour), t0.Add(14*time.Hour)); err != nil {
			t.Fatal(err)
		}
		got, _ = db.WatchConnectors(ctx)
		if len(got) != 1 || !got[0].ExpiresAt.Equal(second[0].ExpiresAt) {
			t.Errorf("after the second read: %+v", got)
		}
		if st, _ := db.WatchState(ctx); st.Failures != 0 || st.LastError != "" {
			t.Errorf("a success did not clear the failures: %+v", st)
		}
	})
}

// A renewal read back: that one connector is replaced, the others stay; the reminders still
// pending for its old expiry date are superseded, while sent ones and those of other
// connectors stay as they were; the next read comes forward, never back.
func TestWatchRenewalReplacesOneConnector(t *testing.T) {
	t.Parallel()
	forEachEngine(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)
		old := watch.Connector{Kind: watch.ADE, ID: "abm", Name: "Contoso ABM", ExpiresAt: t0.Add(9 * 24 * time.Hour)}
		vpp := watch.Connector{Kind: watch.VPP, ID: "v1", Name: "Apps", ExpiresAt: t0.Add(20 * 24 * time.Hour)}
		if err := db.SaveWatchRead(ctx, []watch.Connector{old, vpp}, t0, t0.Add(6*time.Hour)); err != nil {
			t.Fatal(err)
		}
		reminder := func(id string, c watch.Connector, reason, state string) watch.Reminder {
			return watch.Reminder{ID: id, Connector: c, Reason: reason, Channel: "teams", CreatedAt: t0, State: state, NextAttemptAt: t0}
		}
		if _, err := db.AddReminders(ctx, []watch.Reminder{
			reminder("r-old-pending", old, "14d", watch.ReminderPending),
			reminder("r-old-sent", old, "30d", watch.ReminderSent),
			reminder("r-vpp", vpp, "30d", watch.ReminderPending),
		}); err != nil {
			t.Fatal(err)
		}

		renewed := old
		renewed.ExpiresAt = t0.AddDate(1, 0, 0)
		if err := db.SaveWatchConnector(ctx, renewed, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		n, err := db.SupersedeReminders(ctx, watch.ADE, "abm", renewed.ExpiresAt)
		if err != nil || n != 1 {
			t.Fatalf("superseded %d (%v), want 1", n, err)
		}
		cs, err := db.WatchConnectors(ctx)
		if err != nil || len(cs) != 2 {
			t.Fatalf("connectors %v (%v)", cs, err)
		}
		for _, c := range cs {
			if c.ID == "abm" && !c.ExpiresAt.Equal(renewed.ExpiresAt) {
				t.Errorf("renewed token stored with expiry %s", c.ExpiresAt)
			}
		}
		rs, err := db.Reminders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"r-old-pending": watch.ReminderSuperseded, "r-old-sent": watch.ReminderSent, "r-vpp": watch.ReminderPending}
		for _, r := range rs {
			if r.State != want[r.ID] {
				t.Errorf("reminder %s is %s, want %s", r.ID, r.State, want[r.ID])
			}
		}
		if due, _ := db.DueReminders(ctx, t0.Add(time.Hour), 10); len(due) != 1 || due[0].ID != "r-vpp" {
			t.Errorf("due after the renewal: %v", due)
		}

		if err := db.ScheduleWatchPoll(ctx, t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.ScheduleWatchPoll(ctx, t0.Add(3*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if st, _ := db.WatchState(ctx); !st.NextPollAt.Equal(t0.Add(2 * time.Minute)) {
			t.Errorf("next read at %s, want it brought forward to %s and kept there", st.NextPollAt, t0.Add(2*time.Minute))
		}
	})
}
