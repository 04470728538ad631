package audit

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"
)

// Store keeps records and checkpoints. Package store implements it for SQLite and PostgreSQL.
// There is no method to change or delete anything: the trail is append-only by construction.
type Store interface {
	// AppendRecord makes ONE serialised, durable write: it locks out every other appender
	// (in this process and in any other sharing the database), reads the head, inserts the
	// record that build returns for it, and commits before returning. Concurrent appenders
	// therefore form one linear chain. If build or any step fails, nothing is written.
	AppendRecord(ctx context.Context, build func(Head) (Record, error)) (Record, error)
	// Head returns the last record's Seq, Time and Hash; the zero Head when there is none.
	Head(ctx context.Context) (Head, error)
	// Records yields the records matching f with Seq >= from, in ascending Seq, holding only
	// a bounded batch in memory at a time.
	Records(ctx context.Context, f Filter, from int64) iter.Seq2[Record, error]
	// NewestRecords returns up to limit records matching f with Seq < before (0: no bound),
	// newest first.
	NewestRecords(ctx context.Context, f Filter, limit int, before int64) ([]Record, error)

	// AddCheckpoint stores a signed checkpoint (its Size, Time and Note).
	AddCheckpoint(ctx context.Context, c Checkpoint) error
	// LastCheckpoint returns the checkpoint with the largest Size (the latest of equals), or
	// ErrNoCheckpoint.
	LastCheckpoint(ctx context.Context) (Checkpoint, error)
	// Checkpoints yields every stored checkpoint by ascending Size, then as stored.
	Checkpoints(ctx context.Context) iter.Seq2[Checkpoint, error]
}

// ErrNoCheckpoint is what Store.LastCheckpoint returns when none was ever written.
var ErrNoCheckpoint = errors.New("no audit checkpoint yet")

// Filter selects records for the UI and for exports. Zero fields do not filter.
type Filter struct {
	From, To  time.Time // From <= Time < To
	ActorOID  string    // exactly this Entra object ID
	ActorName string    // a substring of the display name or UPN, ignoring ASCII case
	SettingID string
	Type      EventType
	Outcome   Outcome
}

// SetDays sets From and To from two calendar days, YYYY-MM-DD in UTC; either may be empty, and
// until is included whole. The error names the bad one.
func (f *Filter) SetDays(since, until string) error {
	from, err := parseDay(since)
	if err != nil {
		return fmt.Errorf("since %q is not a day like 2026-11-29", since)
	}
	to, err := parseDay(until)
	if err != nil {
		return fmt.Errorf("until %q is not a day like 2026-11-29", until)
	}
	if !to.IsZero() {
		to = to.Add(24 * time.Hour)
	}
	f.From, f.To = from, to
	return nil
}

func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse("2006-01-02", s)
}
