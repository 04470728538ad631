package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
)

// fakeClock is the injected clock: tests move time, never sleep for it. It counts its reads,
// so a test can wait for a loop that polls it to have looked.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	reads atomic.Int64
}

func (c *fakeClock) Now() time.Time {
	c.reads.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// trailRig is a Trail with its clock, key and log.
type trailRig struct {
	*audit.Trail
	Clock       *fakeClock
	VerifierKey string
	SignerKey   string
	Log         *testkit.LogBuffer
	Observed    *atomic.Int64 // appends reported to Config.Observe
}

// MustTrail makes a Trail on st with a fresh key, a fake clock and a captured JSON log.
// every is the checkpoint interval in records.
func MustTrail(tb testing.TB, st audit.Store, every int64) *trailRig {
	tb.Helper()
	skey, vkey, err := audit.GenerateKey("portal.test/audit")
	if err != nil {
		tb.Fatal(err)
	}
	return mustTrailWithKey(tb, st, every, skey, vkey, &fakeClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)})
}

func mustTrailWithKey(tb testing.TB, st audit.Store, every int64, skey, vkey string, clock *fakeClock) *trailRig {
	tb.Helper()
	logs, observed := &testkit.LogBuffer{}, &atomic.Int64{}
	tr, err := audit.New(audit.Config{
		Store: st, SignerKey: skey, Now: clock.Now, CheckpointEvery: every, Poll: 2 * time.Millisecond,
		Logger:  slog.New(slog.NewJSONHandler(logs, nil)),
		Observe: func(d time.Duration) { observed.Add(1) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	return &trailRig{Trail: tr, Clock: clock, VerifierKey: vkey, SignerKey: skey, Log: logs, Observed: observed}
}

// MustAppend appends e and fails the test if the trail refuses.
func MustAppend(tb testing.TB, tr *trailRig, e audit.Entry) audit.Record {
	tb.Helper()
	r, err := tr.Append(context.Background(), e)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// MustVerify runs Verify and fails on a read error (a broken chain is a report, not an error).
func MustVerify(tb testing.TB, st audit.Store, vkeys ...string) audit.VerifyReport {
	tb.Helper()
	rep, err := audit.Verify(context.Background(), st, vkeys...)
	if err != nil {
		tb.Fatal(err)
	}
	return rep
}

func wantIntact(t *testing.T, rep audit.VerifyReport, records, checkpoints int64) {
	t.Helper()
	want := fmt.Sprintf("%d records, %d checkpoints, intact", records, checkpoints)
	if !rep.Intact() || !strings.HasPrefix(rep.String(), want) {
		t.Errorf("verify: %s; want %s", rep, want)
	}
}

func wantProblem(t *testing.T, rep audit.VerifyReport, seq int64, kind audit.Kind) {
	t.Helper()
	if rep.Problem == nil || rep.Problem.Seq != seq || rep.Problem.Kind != kind {
		t.Errorf("verify: %s; want a problem at record %d: %s", rep, seq, kind)
	}
}

// everyEventType is one entry of each type with every field the type uses filled in, and the
// rest filled too, so that a round trip proves every column is stored and read back.
func everyEventType() []audit.Entry {
	hannah := audit.Actor{TenantID: "8a7b6c5d-0000-4000-8000-000000000001", ObjectID: "0f1e2d3c-0000-4000-8000-000000000002", Name: "Hannah Müller", UPN: "hannah@contoso.example"}
	full := func(t audit.EventType, o audit.Outcome) audit.Entry {
		return audit.Entry{
			Type: t, Outcome: o, Actor: hannah,
			Client:    audit.Client{IP: "2001:db8::7", UserAgent: "Mozilla/5.0 (Macintosh) \"quoted\", comma"},
			RequestID: "req-" + string(t),
			Setting:   audit.Setting{ID: "d1a7c2e4-0000-4000-8000-000000000003", Name: "Contoso MDM"},
			AppleID:   "abm-admin@contoso.example",
			Token:     audit.TokenFile{SHA256: strings.Repeat("5a", 32), Recipient: "CN=Intune MDM Push, serial 0a1b2c"},
			Verdicts: []audit.Verdict{
				{Check: "recipient", Result: audit.Pass, Message: "encrypted to this token's key"},
				{Check: "apple-id", Result: audit.Warn, Message: "differs from the current Apple ID"},
				{Check: "expiry", Result: audit.Fail, Message: "line one\nline two"},
			},
			Graph:      audit.GraphResult{Status: 400, Code: "BadRequest", RequestID: "g-req", ClientRequestID: "g-client", ActivityID: "g-activity"},
			DurationMS: 1234, IntentSeq: 1, Reason: "a reason", Route: "/settings/x/upload",
		}
	}
	var out []audit.Entry
	for _, t := range audit.EventTypes {
		out = append(out, full(t, audit.DefaultOutcome(t, nil)))
	}
	return out
}

func TestAuditRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := MustTrail(t, db, 100)
		var appended []audit.Record
		for i, e := range everyEventType() {
			at := tr.Clock.Now()
			r := MustAppend(t, tr, e)
			if !reflect.DeepEqual(r.Entry, e) {
				t.Errorf("%s: appended entry differs:\n got %+v\nwant %+v", e.Type, r.Entry, e)
			}
			if r.Seq != int64(i+1) || !r.Time.Equal(at) {
				t.Errorf("%s: seq %d at %s, want %d at %s", e.Type, r.Seq, r.Time, i+1, at)
			}
			appended = append(appended, r)
			tr.Clock.Advance(1500 * time.Microsecond)
		}
		var stored []audit.Record
		for r, err := range db.Records(ctx, audit.Filter{}, 1) {
			if err != nil {
				t.Fatal(err)
			}
			stored = append(stored, r)
		}
		if !reflect.DeepEqual(stored, appended) {
			t.Errorf("stored records differ from appended:\n got %+v\nwant %+v", stored, appended)
		}
		wantIntact(t, MustVerify(t, db, tr.VerifierKey), int64(len(appended)), 0)
		if n := tr.Observed.Load(); n != int64(len(appended)) {
			t.Errorf("Observe told of %d appends, want %d", n, len(appended))
		}

		// One JSON log line per record, msg "audit", the record under the export's column names.
		lines := tr.Log.Lines()
		if len(lines) != len(appended) {
			t.Fatalf("%d log lines for %d records:\n%s", len(lines), len(appended), strings.Join(lines, "\n"))
		}
		for i, text := range lines {
			var line struct {
				Msg    string
				Record map[string]any
			}
			if err := json.Unmarshal([]byte(text), &line); err != nil {
				t.Fatal(err)
			}
			m, r := line.Record, appended[i]
			if line.Msg != "audit" || m["time"] != r.Time.Format("2006-01-02T15:04:05.000000Z") || m["seq"] != float64(r.Seq) || m["type"] != string(r.Type) ||
				m["hash"] != r.Hash.String() || m["actor_upn"] != r.Actor.UPN || m["graph_activity_id"] != r.Graph.ActivityID {
				t.Errorf("log line %d: %s", i, text)
			}
			if vs, _ := m["verdicts"].([]any); len(vs) != 3 {
				t.Errorf("log line %d carries verdicts %v", i, m["verdicts"])
			}
		}
	})
}

// Time never runs backwards along the chain, so a time range is a seq range (see the store's
// queries); a clock stepped back gets the previous record's time.
func TestAuditTimeNeverRunsBackwards(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		tr := MustTrail(t, db, 100)
		first := MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		tr.Clock.Advance(-time.Hour)
		second := MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		if !second.Time.Equal(first.Time) {
			t.Errorf("record 2 at %s, before record 1 at %s", second.Time, first.Time)
		}
		if _, err := tr.Append(context.Background(), audit.Entry{Type: "upload.maybe"}); !errors.Is(err, audit.ErrInvalidEntry) {
			t.Errorf("an unknown event type: %v", err)
		}
		wantIntact(t, MustVerify(t, db, tr.VerifierKey), 2, 0)
	})
}

func TestAuditRefusesUpdatesAndDeletes(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		tr := MustTrail(t, db, 1)
		MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		for _, stmt := range []string{
			`UPDATE audit_records SET reason = 'x'`, `DELETE FROM audit_records`,
			`UPDATE audit_checkpoints SET note = 'x'`, `DELETE FROM audit_checkpoints`,
		} {
			if _, err := db.SQL().Exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want refused as append-only", stmt, err)
			}
		}
	})
}

// allowTampering removes the append-only triggers, as an attacker with the database would.
func allowTampering(t *testing.T, db *store.DB) {
	t.Helper()
	stmts := []string{
		`DROP TRIGGER audit_records_no_update`, `DROP TRIGGER audit_records_no_delete`,
		`DROP TRIGGER audit_checkpoints_no_update`, `DROP TRIGGER audit_checkpoints_no_delete`,
	}
	if db.Dialect() == store.Postgres {
		stmts = []string{`ALTER TABLE audit_records DISABLE TRIGGER USER`, `ALTER TABLE audit_checkpoints DISABLE TRIGGER USER`}
	}
	for _, s := range stmts {
		mustExec(t, db, s)
	}
}

func mustExec(tb testing.TB, db *store.DB, query string, args ...any) {
	tb.Helper()
	if _, err := db.SQL().Exec(query, args...); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
}

// rewrite replaces records from seq on with edit applied and, when rehash is set, every hash
// and prev hash recomputed from there to the end: the attack of someone who knows the format.
func rewrite(t *testing.T, db *store.DB, seq int64, rehash bool, edit func(r *audit.Record)) {
	t.Helper()
	var recs []audit.Record
	for r, err := range db.Records(context.Background(), audit.Filter{}, seq) {
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	edit(&recs[0])
	for i := range recs {
		if !rehash {
			break
		}
		if i > 0 {
			recs[i].PrevHash = recs[i-1].Hash
		}
		recs[i].Hash = recs[i].ComputeHash()
	}
	for _, r := range recs {
		mustExec(t, db, `UPDATE audit_records SET actor_name = $1, prev_hash = $2, hash = $3 WHERE seq = $4`,
			r.Actor.Name, r.PrevHash[:], r.Hash[:], r.Seq)
	}
}

func TestAuditTamperingIsDetected(t *testing.T) {
	t.Parallel()
	// Each case starts from 20 records with a checkpoint every 5 (at 5, 10, 15 and 20).
	cases := []struct {
		name   string
		tamper func(t *testing.T, db *store.DB, tr *trailRig)
		seq    int64
		kind   audit.Kind
	}{
		{"one field of a middle record changed", func(t *testing.T, db *store.DB, tr *trailRig) {
			mustExec(t, db, `UPDATE audit_records SET apple_id = 'mallory@evil.example' WHERE seq = 7`)
		}, 7, audit.ContentChanged},
		{"a field changed and its hash recomputed", func(t *testing.T, db *store.DB, tr *trailRig) {
			rewrite(t, db, 7, false, func(r *audit.Record) { r.Actor.Name = "Mallory"; r.Hash = r.ComputeHash() })
		}, 8, audit.OrderChanged},
		{"a middle record deleted", func(t *testing.T, db *store.DB, tr *trailRig) {
			mustExec(t, db, `DELETE FROM audit_records WHERE seq = 7`)
		}, 7, audit.RecordMissing},
		{"two records swapped", func(t *testing.T, db *store.DB, tr *trailRig) {
			// Swap every column but seq: record 8's content now sits at 7 and the reverse.
			mustExec(t, db, `UPDATE audit_records SET seq = -7 WHERE seq = 7`)
			mustExec(t, db, `UPDATE audit_records SET seq = 7 WHERE seq = 8`)
			mustExec(t, db, `UPDATE audit_records SET seq = 8 WHERE seq = -7`)
		}, 7, audit.OrderChanged},
		{"tail truncated after a checkpoint", func(t *testing.T, db *store.DB, tr *trailRig) {
			mustExec(t, db, `DELETE FROM audit_records WHERE seq > 17`)
		}, 18, audit.TailTruncated},
		{"tail truncated and grown again", func(t *testing.T, db *store.DB, tr *trailRig) {
			mustExec(t, db, `DELETE FROM audit_records WHERE seq > 17`)
			other := mustTrailWithKey(t, db, 1000, tr.SignerKey, tr.VerifierKey, tr.Clock)
			for range 3 {
				MustAppend(t, other, audit.Entry{Type: audit.SignInRefused, Reason: "replacement"})
			}
		}, 20, audit.TailTruncated},
		{"whole chain recomputed after a change", func(t *testing.T, db *store.DB, tr *trailRig) {
			rewrite(t, db, 7, true, func(r *audit.Record) { r.Actor.Name = "Mallory" })
		}, 10, audit.TailTruncated},
		{"checkpoint text edited", func(t *testing.T, db *store.DB, tr *trailRig) {
			mustExec(t, db, `UPDATE audit_checkpoints SET note = REPLACE(note, 'time 2026-03-02T09', 'time 2026-03-01T09') WHERE size = 15`)
		}, 15, audit.BadSignature},
		{"checkpoint signature edited", func(t *testing.T, db *store.DB, tr *trailRig) {
			var id int64
			var note string
			if err := db.SQL().QueryRow(`SELECT id, note FROM audit_checkpoints WHERE size = 10`).Scan(&id, &note); err != nil {
				t.Fatal(err)
			}
			i := strings.LastIndexByte(note[:len(note)-1], ' ')
			sig, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(note[i+1:]))
			sig[20] ^= 1
			mustExec(t, db, `UPDATE audit_checkpoints SET note = $1 WHERE id = $2`, note[:i+1]+base64.StdEncoding.EncodeToString(sig)+"\n", id)
		}, 10, audit.BadSignature},
		{"checkpoint moved to another size", func(t *testing.T, db *store.DB, tr *trailRig) {
			mustExec(t, db, `UPDATE audit_checkpoints SET size = 3 WHERE size = 5`)
		}, 3, audit.BadSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			eachDatabase(t, func(t *testing.T, db *store.DB) {
				tr := MustTrail(t, db, 5)
				for i := range 20 {
					MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded, Actor: audit.Actor{Name: fmt.Sprint("person ", i)}})
					tr.Clock.Advance(time.Minute)
				}
				wantIntact(t, MustVerify(t, db, tr.VerifierKey), 20, 4)
				allowTampering(t, db)
				c.tamper(t, db, tr)
				wantProblem(t, MustVerify(t, db, tr.VerifierKey), c.seq, c.kind)
			})
		})
	}
}

func TestAuditWrongVerifierKey(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		tr := MustTrail(t, db, 5)
		for range 12 {
			MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		}
		_, otherKey, _ := audit.GenerateKey("portal.test/audit")
		wantProblem(t, MustVerify(t, db, otherKey), 5, audit.BadSignature)
		if _, err := audit.Verify(context.Background(), db, "not a key"); err == nil {
			t.Error("a malformed verifier key was accepted")
		}
	})
}

// After a key rotation the old checkpoints verify with the old verifier key, for Verify and for
// the trail's own check when it signs the next checkpoint.
func TestAuditKeyRotation(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		old := MustTrail(t, db, 5)
		for range 12 {
			MustAppend(t, old, audit.Entry{Type: audit.SignInSucceeded})
		}
		skey, vkey, _ := audit.GenerateKey("portal.test/audit-2026")
		rotated, err := audit.New(audit.Config{
			Store: db, SignerKey: skey, OldVerifierKeys: []string{old.VerifierKey}, CheckpointEvery: 5,
			Now: old.Clock.Now, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			if _, err := rotated.Append(context.Background(), audit.Entry{Type: audit.SignInSucceeded}); err != nil {
				t.Fatal(err)
			}
		}
		if s := rotated.LastVerified(); !s.Intact || s.Size != 20 {
			t.Errorf("the new key's trail does not accept the old key's checkpoint: %+v", s)
		}
		wantIntact(t, MustVerify(t, db, old.VerifierKey, vkey), 20, 4)
		wantProblem(t, MustVerify(t, db, vkey), 5, audit.BadSignature)
	})
}

// A checkpoint kept outside the database catches the last records deleted together with the
// checkpoints stored beside them, which leaves a trail consistent on its own.
func TestAuditCheckpointKeptElsewhere(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := MustTrail(t, db, 5)
		for range 20 {
			MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		}
		var kept string // the SIEM's copy, from the log line
		for _, line := range tr.Log.Lines() {
			var l struct{ Msg, Note string }
			json.Unmarshal([]byte(line), &l)
			if l.Msg == "audit checkpoint" {
				kept = l.Note
			}
		}
		if p, err := audit.VerifyCheckpoint(ctx, db, kept, tr.VerifierKey); p != nil || err != nil {
			t.Fatalf("the intact trail: %v, %v", p, err)
		}
		allowTampering(t, db)
		mustExec(t, db, `DELETE FROM audit_records WHERE seq > 15`)
		mustExec(t, db, `DELETE FROM audit_checkpoints WHERE size > 15`)
		wantIntact(t, MustVerify(t, db, tr.VerifierKey), 15, 3) // consistent on its own…
		p, err := audit.VerifyCheckpoint(ctx, db, kept, tr.VerifierKey)
		if err != nil || p == nil || p.Seq != 20 || p.Kind != audit.TailTruncated {
			t.Errorf("…but not with the kept checkpoint: %v, %v", p, err)
		}
		forged := strings.Replace(kept, "\n20\n", "\n15\n", 1)
		if p, _ := audit.VerifyCheckpoint(ctx, db, forged, tr.VerifierKey); p == nil || p.Kind != audit.BadSignature {
			t.Errorf("a forged note: %v", p)
		}
	})
}

// The banner: the trail re-checks the records since the last checkpoint whenever it signs one.
func TestAuditLastVerifiedShowsABreak(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := MustTrail(t, db, 5)
		if s := tr.LastVerified(); s.Checked {
			t.Errorf("checked before anything was verified: %+v", s)
		}
		for range 10 {
			MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		}
		if s := tr.LastVerified(); !s.Checked || !s.Intact || s.Size != 10 {
			t.Errorf("after two checkpoints: %+v", s)
		}
		allowTampering(t, db)
		for range 2 {
			MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		}
		mustExec(t, db, `UPDATE audit_records SET reason = 'edited' WHERE seq = 12`)
		if _, err := tr.Checkpoint(ctx); err != nil {
			t.Fatal(err)
		}
		s := tr.LastVerified()
		if !s.Checked || s.Intact || s.Problem == nil || s.Problem.Seq != 12 || s.Problem.Kind != audit.ContentChanged {
			t.Errorf("after tampering: %+v", s)
		}
		for range 5 {
			MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		}
		if s := tr.LastVerified(); s.Intact {
			t.Errorf("a later clean checkpoint hid the break: %+v", s)
		}
	})
}

func TestAuditConcurrentAppendsFormOneChain(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		tr := MustTrail(t, db, 100)
		appendConcurrently(t, []*trailRig{tr}, 8, 50)
		wantIntact(t, MustVerify(t, db, tr.VerifierKey), 400, 4)
	})
}

// Two pools on one database stand in for two portal processes: only the database's lock
// (BEGIN IMMEDIATE on SQLite, the advisory lock on PostgreSQL) keeps them in one chain.
func TestAuditTwoProcessesFormOneChain(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		path := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
		a, b := mustOpen(t, path), mustOpen(t, path)
		twoProcesses(t, a, b)
	})
	t.Run("postgres", func(t *testing.T) {
		a, url := testkit.MustPostgres(t)
		twoProcesses(t, a, mustOpen(t, url))
	})
}

func twoProcesses(t *testing.T, a, b *store.DB) {
	t.Helper()
	ta := MustTrail(t, a, 50)
	tb := mustTrailWithKey(t, b, 50, ta.SignerKey, ta.VerifierKey, ta.Clock)
	appendConcurrently(t, []*trailRig{ta, tb}, 4, 25)
	wantIntact(t, MustVerify(t, a, ta.VerifierKey), 200, 4)
}

func appendConcurrently(t *testing.T, trails []*trailRig, goroutines, each int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(trails)*goroutines*each)
	for _, tr := range trails {
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					_, err := tr.Append(context.Background(), audit.Entry{Type: audit.SignInSucceeded, RequestID: fmt.Sprintf("g%d-%d", g, i)})
					if err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func mustOpen(tb testing.TB, url string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func countCheckpoints(t *testing.T, db *store.DB) (sizes []int64) {
	t.Helper()
	for c, err := range db.Checkpoints(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, c.Size)
	}
	return sizes
}

func TestAuditCheckpoints(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := MustTrail(t, db, 10)
		for range 25 {
			MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		}
		if got := countCheckpoints(t, db); !slices.Equal(got, []int64{10, 20}) {
			t.Errorf("checkpoints at %v, want every 10 records: [10 20]", got)
		}

		// Hourly, even with no new records, driven by the injected clock.
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- tr.Run(runCtx) }()
		// Several polls, each reading the clock and finding nothing due yet. The two before the
		// third read have finished.
		read := tr.Clock.reads.Load()
		waitFor(t, "three polls of the clock", func() bool { return tr.Clock.reads.Load() >= read+3 })
		if got := countCheckpoints(t, db); len(got) != 2 {
			t.Errorf("checkpoints %v before an hour passed", got)
		}
		tr.Clock.Advance(time.Hour)
		waitFor(t, "the hourly checkpoint", func() bool { return len(countCheckpoints(t, db)) == 3 })
		tr.Clock.Advance(time.Hour)
		waitFor(t, "the second hourly checkpoint", func() bool { return len(countCheckpoints(t, db)) == 4 })
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if got := countCheckpoints(t, db); !slices.Equal(got, []int64{10, 20, 25, 25}) {
			t.Errorf("checkpoints at %v, want [10 20 25 25]", got)
		}

		// Close signs the shutdown, then refuses appends.
		tr.Clock.Advance(time.Minute)
		if err := tr.Close(ctx); err != nil {
			t.Fatal(err)
		}
		last, err := db.LastCheckpoint(ctx)
		if err != nil || last.Size != 25 || !last.Time.Equal(tr.Clock.Now()) {
			t.Errorf("last checkpoint %+v, %v; want size 25 at shutdown time", last, err)
		}
		if _, err := tr.Append(ctx, audit.Entry{Type: audit.SignInSucceeded}); !errors.Is(err, audit.ErrClosed) {
			t.Errorf("append after Close: %v", err)
		}
		wantIntact(t, MustVerify(t, db, tr.VerifierKey), 25, 5)
		if s := tr.LastVerified(); !s.Intact || s.Size != 25 {
			t.Errorf("LastVerified %+v", s)
		}
	})
}

func TestAuditEmptyTrailIsCheckpointed(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		tr := MustTrail(t, db, 10)
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- tr.Run(ctx) }()
		waitFor(t, "a checkpoint of the empty trail", func() bool { return len(countCheckpoints(t, db)) == 1 })
		stop()
		<-done
		wantIntact(t, MustVerify(t, db, tr.VerifierKey), 0, 1)
		// Someone deletes every record after the first checkpoint of a non-empty trail.
		MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		if _, err := tr.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
		allowTampering(t, db)
		mustExec(t, db, `DELETE FROM audit_records`)
		wantProblem(t, MustVerify(t, db, tr.VerifierKey), 1, audit.TailTruncated)
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func countRecords(t *testing.T, db *store.DB) (n int) {
	t.Helper()
	if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM audit_records`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Fail closed: when the database refuses the write, Append says so and nothing is recorded.
func TestAuditAppendFailsClosed(t *testing.T) {
	t.Parallel()
	t.Run("sqlite read-only", func(t *testing.T) {
		db := testkit.MustSQLite(t)
		tr := MustTrail(t, db, 100)
		MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		// One connection, switched to read-only: SQLite itself refuses every write on it.
		db.SQL().SetMaxOpenConns(1)
		mustExec(t, db, `PRAGMA query_only = 1`)
		if _, err := tr.Append(context.Background(), audit.Entry{Type: audit.UploadIntent}); err == nil {
			t.Fatal("append on a read-only database succeeded")
		}
		if n := countRecords(t, db); n != 1 {
			t.Errorf("%d records after the refused append, want 1", n)
		}
		if lines := tr.Log.Lines(); len(lines) != 1 || tr.Observed.Load() != 1 {
			t.Errorf("the refused record was logged or observed: %v", lines)
		}
	})
	t.Run("sqlite closed", func(t *testing.T) {
		db := testkit.MustSQLite(t)
		tr := MustTrail(t, db, 100)
		db.Close()
		if _, err := tr.Append(context.Background(), audit.Entry{Type: audit.UploadIntent}); err == nil {
			t.Fatal("append on a closed database succeeded")
		}
	})
	t.Run("postgres insert revoked", func(t *testing.T) {
		db, _ := testkit.MustPostgres(t)
		tr := MustTrail(t, db, 100)
		MustAppend(t, tr, audit.Entry{Type: audit.SignInSucceeded})
		var schema string
		if err := db.SQL().QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
			t.Fatal(err)
		}
		role := schema + "_ro"
		mustExec(t, db, `CREATE ROLE `+role+` LOGIN`)
		t.Cleanup(func() {
			db.SQL().Exec(`DROP OWNED BY ` + role)
			db.SQL().Exec(`DROP ROLE ` + role)
		})
		// The role may migrate (nothing is pending) and read, but not insert audit records.
		mustExec(t, db, `GRANT USAGE, CREATE ON SCHEMA `+schema+` TO `+role)
		mustExec(t, db, `GRANT SELECT ON ALL TABLES IN SCHEMA `+schema+` TO `+role)
		limited := mustOpen(t, strings.Replace(testkit.PostgresURL(), "postgres@", role+"@", 1)+"&search_path="+schema)
		lt := mustTrailWithKey(t, limited, 100, tr.SignerKey, tr.VerifierKey, tr.Clock)
		_, err := lt.Append(context.Background(), audit.Entry{Type: audit.UploadIntent})
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("append without INSERT: %v, want permission denied", err)
		}
		if n := countRecords(t, db); n != 1 {
			t.Errorf("%d records after the refused append, want 1", n)
		}
	})
}

// populate appends n records through the trail, one minute apart, cycling through three
// people, two settings and several types.
func populate(t *testing.T, tr *trailRig, n int) []audit.Record {
	t.Helper()
	people := []audit.Actor{
		{TenantID: "t", ObjectID: "oid-hannah", Name: "Hannah Helpdesk", UPN: "hannah@contoso.example"},
		{TenantID: "t", ObjectID: "oid-avery", Name: "Avery Auditor", UPN: "avery@contoso.example"},
		{TenantID: "t", ObjectID: "oid-eve", Name: "=HYPERLINK(\"http://evil\")", UPN: "@eve_100%@evil.example"},
	}
	settings := []audit.Setting{{ID: "set-a", Name: "Contoso MDM"}, {ID: "set-b", Name: "-Fabrikam"}}
	types := []audit.Entry{
		{Type: audit.SignInSucceeded}, {Type: audit.UploadIntent}, {Type: audit.UploadFailed, IntentSeq: 1},
		{Type: audit.UploadSucceeded, IntentSeq: 1}, {Type: audit.AccessDenied, Route: "/audit"}, {Type: audit.UploadUnknown, IntentSeq: 1},
	}
	var out []audit.Record
	for i := range n {
		e := types[i%len(types)]
		e.Actor, e.Setting = people[i%len(people)], settings[i%len(settings)]
		e.Client.UserAgent = "+cmd|' /C calc'!A0"
		out = append(out, MustAppend(t, tr, e))
		tr.Clock.Advance(time.Minute)
	}
	return out
}

// matches is the reference meaning of a Filter.
func matches(f audit.Filter, r audit.Record) bool {
	lower := strings.ToLower
	return (f.From.IsZero() || !r.Time.Before(f.From)) && (f.To.IsZero() || r.Time.Before(f.To)) &&
		(f.ActorOID == "" || r.Actor.ObjectID == f.ActorOID) &&
		(f.ActorName == "" || strings.Contains(lower(r.Actor.Name), lower(f.ActorName)) || strings.Contains(lower(r.Actor.UPN), lower(f.ActorName))) &&
		(f.SettingID == "" || r.Setting.ID == f.SettingID) && (f.Type == "" || r.Type == f.Type) && (f.Outcome == "" || r.Outcome == f.Outcome)
}

func filters(recs []audit.Record) map[string]audit.Filter {
	return map[string]audit.Filter{
		"none":           {},
		"time range":     {From: recs[10].Time, To: recs[40].Time},
		"from only":      {From: recs[50].Time.Add(time.Second)},
		"to only":        {To: recs[5].Time},
		"empty range":    {From: recs[len(recs)-1].Time.Add(time.Hour)},
		"actor oid":      {ActorOID: "oid-avery"},
		"actor name":     {ActorName: "hannah h"},
		"actor upn":      {ActorName: "AVERY@CONTOSO"},
		"like wildcards": {ActorName: "_100%"},
		"setting":        {SettingID: "set-b"},
		"type":           {Type: audit.UploadFailed},
		"outcome":        {Outcome: audit.Unknown},
		"combined":       {From: recs[3].Time, ActorOID: "oid-hannah", SettingID: "set-a", Outcome: audit.Success},
	}
}

func TestAuditQueryPagesNewestFirst(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		tr := MustTrail(t, db, 1000)
		recs := populate(t, tr, 60)
		for name, f := range filters(recs) {
			var want []int64
			for _, r := range slices.Backward(recs) {
				if matches(f, r) {
					want = append(want, r.Seq)
				}
			}
			var got []int64
			before, pages := int64(0), 0
			for {
				page, next, err := tr.Query(context.Background(), f, 7, before)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, r := range page {
					got = append(got, r.Seq)
				}
				if next == 0 {
					break
				}
				if len(page) != 7 || pages > 20 {
					t.Fatalf("%s: page of %d with a next page", name, len(page))
				}
				before = next
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: got %v\nwant %v", name, got, want)
			}
			if len(want) == 0 && name != "empty range" {
				t.Errorf("%s: the test data matches nothing; the filter is untested", name)
			}
		}
	})
}

func TestAuditExport(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := MustTrail(t, db, 1000)
		recs := populate(t, tr, 60)
		f := audit.Filter{From: recs[10].Time, To: recs[50].Time, ActorOID: "oid-eve"}
		var want []audit.Record
		for _, r := range recs {
			if matches(f, r) {
				want = append(want, r)
			}
		}

		var buf bytes.Buffer
		if err := audit.Export(ctx, db, &buf, "csv", f); err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(rows[0], audit.ColumnNames()) {
			t.Errorf("CSV header %v", rows[0])
		}
		if len(rows)-1 != len(want) {
			t.Fatalf("CSV has %d records, want %d", len(rows)-1, len(want))
		}
		col := func(name string) int { return slices.Index(rows[0], name) }
		for i, r := range want {
			row := rows[i+1]
			if row[col("seq")] != fmt.Sprint(r.Seq) || row[col("hash")] != r.Hash.String() {
				t.Errorf("CSV row %d: %v", i, row)
			}
			// Every attacker-influenced cell that looks like a formula is neutralised.
			for _, name := range []string{"actor_name", "actor_upn", "user_agent", "setting_name"} {
				if cell := row[col(name)]; cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
					t.Errorf("CSV cell %s = %q would run as a formula", name, cell)
				}
			}
			if row[col("actor_name")] != "'"+r.Actor.Name {
				t.Errorf("actor_name cell %q", row[col("actor_name")])
			}
		}

		buf.Reset()
		if err := audit.Export(ctx, db, &buf, "jsonl", f); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
		if len(lines) != len(want) {
			t.Fatalf("JSONL has %d lines, want %d", len(lines), len(want))
		}
		for i, line := range lines {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			r := want[i]
			if m["seq"] != float64(r.Seq) || m["actor_name"] != r.Actor.Name || m["user_agent"] != r.Client.UserAgent ||
				m["hash"] != r.Hash.String() || len(m) != len(audit.ColumnNames()) {
				t.Errorf("JSONL line %d: %s", i, line)
			}
		}
		if err := audit.Export(ctx, db, io.Discard, "xlsx", f); err == nil {
			t.Error("an unknown format was accepted")
		}
	})
}

// bulkRecords inserts a valid chain of n varied records straight into the table, far faster
// than Append (one transaction per 10,000 instead of one durable commit each). It is for
// building large trails in tests and benchmarks only. With a signer key it also signs a
// checkpoint every `every` records, written from docs/audit-format.md rather than by the trail.
func bulkRecords(tb testing.TB, db *store.DB, n int, signerKey string, every int) {
	tb.Helper()
	ctx := context.Background()
	var prev audit.Hash
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	entries := everyEventType()
	const cols = `seq, at, type, outcome, actor_tid, actor_oid, actor_name, actor_upn, client_ip, user_agent,
		request_id, setting_id, setting_name, apple_id, token_sha256, token_recipient, verdicts, graph_status,
		graph_code, graph_request_id, graph_client_request_id, graph_activity_id, duration_ms, intent_seq,
		reason, route, prev_hash, hash`
	var ph []string
	for i := 1; i <= 28; i++ {
		ph = append(ph, fmt.Sprintf("$%d", i))
	}
	const batch = 10000
	for lo := 1; lo <= n; lo += batch {
		tx, err := db.SQL().BeginTx(ctx, nil)
		if err != nil {
			tb.Fatal(err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO audit_records (`+cols+`) VALUES (`+strings.Join(ph, ",")+`)`)
		if err != nil {
			tb.Fatal(err)
		}
		for seq := lo; seq < lo+batch && seq <= n; seq++ {
			r := audit.Record{Seq: int64(seq), Time: start.Add(time.Duration(seq) * 30 * time.Second), Entry: entries[seq%len(entries)], PrevHash: prev}
			r.Actor.ObjectID = fmt.Sprintf("oid-%03d", seq%500)
			r.Actor.Name = fmt.Sprintf("Person %03d", seq%500)
			r.Setting.ID = fmt.Sprintf("setting-%d", seq%7)
			r.RequestID = fmt.Sprintf("req-%d", seq)
			verdicts := "[]"
			if r.Type != audit.UploadReviewed {
				r.Verdicts = nil
			} else {
				b, _ := json.Marshal(r.Verdicts)
				verdicts = string(b)
			}
			r.Hash = r.ComputeHash()
			prev = r.Hash
			if signerKey != "" && seq%every == 0 {
				signed := mustSignCheckpoint(tb, signerKey, r.Seq, r.Hash, r.Time)
				if _, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, at, note) VALUES ($1, $2, $3)`, r.Seq, r.Time.UnixMicro(), signed); err != nil {
					tb.Fatal(err)
				}
			}
			if _, err := stmt.ExecContext(ctx, r.Seq, r.Time.UnixMicro(), string(r.Type), string(r.Outcome),
				r.Actor.TenantID, r.Actor.ObjectID, r.Actor.Name, r.Actor.UPN, r.Client.IP, r.Client.UserAgent,
				r.RequestID, r.Setting.ID, r.Setting.Name, r.AppleID, r.Token.SHA256, r.Token.Recipient, verdicts,
				r.Graph.Status, r.Graph.Code, r.Graph.RequestID, r.Graph.ClientRequestID, r.Graph.ActivityID,
				r.DurationMS, r.IntentSeq, r.Reason, r.Route, r.PrevHash[:], r.Hash[:]); err != nil {
				tb.Fatal(err)
			}
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			tb.Fatal(err)
		}
	}
}

// mustSignCheckpoint signs a checkpoint note as docs/audit-format.md describes it.
func mustSignCheckpoint(tb testing.TB, signerKey string, size int64, h audit.Hash, at time.Time) string {
	tb.Helper()
	s, err := note.NewSigner(signerKey)
	if err != nil {
		tb.Fatal(err)
	}
	text := fmt.Sprintf("%s\n%d\n%s\ntime %s\n", s.Name(), size, base64.StdEncoding.EncodeToString(h[:]), at.UTC().Format("2006-01-02T15:04:05.000000Z"))
	msg, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		tb.Fatal(err)
	}
	return string(msg)
}

// A trail written by another implementation of docs/audit-format.md verifies; its size also
// makes the store's scans cross their batch boundaries (2,000 rows a query).
func TestAuditVerifiesATrailWrittenFromTheDocs(t *testing.T) {
	t.Parallel()
	db := testkit.MustSQLite(t)
	skey, vkey, _ := audit.GenerateKey("other.implementation/audit")
	bulkRecords(t, db, 4500, skey, 2)
	wantIntact(t, MustVerify(t, db, vkey), 4500, 2250)
	allowTampering(t, db)
	mustExec(t, db, `DELETE FROM audit_records WHERE seq = 4001`)
	wantProblem(t, MustVerify(t, db, vkey), 4001, audit.RecordMissing)
}

// liveHeapWriter discards what is written and measures the live heap (after a collection)
// every megabyte, so garbage waiting for the collector does not count.
type liveHeapWriter struct {
	bytes, next int
	peak        uint64
}

func (w *liveHeapWriter) Write(p []byte) (int, error) {
	w.bytes += len(p)
	if w.bytes >= w.next {
		w.next += 1 << 20
		w.peak = max(w.peak, liveHeap())
	}
	return len(p), nil
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// An export streams: the live heap while exporting stays within a few hundred kilobytes of
// where it started, where holding the records would take about 1.5 kB each. (10,000 records keep
// this quick under the race detector; BenchmarkExport runs 100,000.)
func TestAuditExportMemoryIsFlat(t *testing.T) {
	t.Parallel()
	// Not parallel: other tests' allocations would count as this export's.
	const n = 10_000
	db := testkit.MustSQLite(t)
	bulkRecords(t, db, n, "", 0)
	for _, format := range []string{"csv", "jsonl"} {
		w := &liveHeapWriter{}
		before := liveHeap()
		if err := audit.Export(context.Background(), db, w, format, audit.Filter{}); err != nil {
			t.Fatal(err)
		}
		growth := int64(w.peak) - int64(before)
		t.Logf("%s: %d records, %.1f MB written, live heap growth %d kB", format, n, float64(w.bytes)/1e6, growth>>10)
		if w.bytes < n*500 {
			t.Errorf("%s: only %d bytes written", format, w.bytes)
		}
		if growth > 2<<20 {
			t.Errorf("%s: the live heap grew by %d bytes while exporting: not streaming", format, growth)
		}
	}
}

func benchmarkAppend(b *testing.B, db *store.DB) {
	tr := MustTrail(b, db, 100)
	e := everyEventType()[4] // upload.intent with every field: the record the upload waits for
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.Append(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkAppendSQLite measures one durable append (WAL, synchronous=FULL) including the
// checkpoint every 100 records.
func BenchmarkAppendSQLite(b *testing.B) { benchmarkAppend(b, testkit.MustSQLite(b)) }

// BenchmarkAppendPostgres measures one committed append under the advisory lock.
func BenchmarkAppendPostgres(b *testing.B) {
	db, _ := testkit.MustPostgres(b)
	benchmarkAppend(b, db)
}

// BenchmarkVerify1M builds a one-million-record SQLite trail once (bulk insert, a few tens of
// seconds), then times Verify over it and the UI's queries against it.
func BenchmarkVerify1M(b *testing.B) {
	const n = 1_000_000
	db := testkit.MustSQLite(b)
	tr := MustTrail(b, db, 100)
	began := time.Now()
	bulkRecords(b, db, n, tr.SignerKey, 100) // and 10,000 checkpoints, as a real trail would have
	b.Logf("built %d records in %s", n, time.Since(began).Round(time.Second))
	ctx := context.Background()
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			rep, err := audit.Verify(ctx, db, tr.VerifierKey)
			if err != nil || !rep.Intact() || rep.Records != n || rep.Checkpoints != n/100 {
				b.Fatalf("%s, %v", rep, err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	last := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(n * 30 * time.Second)
	queries := map[string]audit.Filter{
		"newest":            {},
		"actor-oid":         {ActorOID: "oid-123"},
		"actor-name":        {ActorName: "person 123"},
		"setting+type":      {SettingID: "setting-3", Type: audit.UploadFailed},
		"outcome-rare":      {Outcome: audit.Unknown},
		"old-time-range":    {From: last.AddDate(0, -9, 0), To: last.AddDate(0, -8, 0)},
		"old-range+actor":   {From: last.AddDate(0, -9, 0), To: last.AddDate(0, -8, 0), ActorOID: "oid-042"},
		"no-match-by-actor": {ActorOID: "nobody"},
	}
	for name, f := range queries {
		b.Run("query/"+name, func(b *testing.B) {
			for b.Loop() {
				page, _, err := tr.Query(ctx, f, 50, 0)
				if err != nil || (len(page) == 0 && name != "no-match-by-actor") {
					b.Fatalf("%d records, %v", len(page), err)
				}
			}
		})
	}
}

// BenchmarkExport reports the allocation per exported record; the total stays flat (see
// TestAuditExportMemoryIsFlat).
func BenchmarkExport(b *testing.B) {
	const n = 100_000
	db := testkit.MustSQLite(b)
	bulkRecords(b, db, n, "", 0)
	for _, format := range []string{"csv", "jsonl"} {
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := audit.Export(context.Background(), db, io.Discard, format, audit.Filter{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.StopTimer()
			w := &liveHeapWriter{}
			before := liveHeap()
			if err := audit.Export(context.Background(), db, w, format, audit.Filter{}); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(int64(w.peak)-int64(before))/1e3, "live-heap-growth-kB")
		})
	}
}
