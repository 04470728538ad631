package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/depportal/depportal/watch"
)

var _ watch.Store = (*DB)(nil)

// orZero stores the zero time as 0 and reads 0 back as the zero time ("never").
func orZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

func zeroOr(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMicros(v)
}

// TakeWatchLease is one UPDATE: it succeeds for the holder itself or when the lease has run
// out, so two instances racing for it cannot both win.
func (db *DB) TakeWatchLease(ctx context.Context, holder string, now, until time.Time) (bool, error) {
	n, err := affected(db.sql.ExecContext(ctx, `UPDATE watch_state SET holder = $1, lease_until = $2
		WHERE name = 'watch' AND (holder = $1 OR lease_until <= $3)`, holder, micros(until), micros(now)))
	return n == 1, err
}

// ReleaseWatchLease ends holder's lease now.
func (db *DB) ReleaseWatchLease(ctx context.Context, holder string) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE watch_state SET lease_until = 0 WHERE name = 'watch' AND holder = $1`, holder)
	return err
}

// ClaimWatchPoll moves next_poll_at in the same UPDATE that checks it was due: of two claims
// for one due read, one changes the row and the other finds it no longer due.
func (db *DB) ClaimWatchPoll(ctx context.Context, holder string, now time.Time, force bool, retryAt time.Time) (bool, error) {
	n, err := affected(db.sql.ExecContext(ctx, `UPDATE watch_state SET next_poll_at = $1, last_attempt_at = $2
		WHERE name = 'watch' AND holder = $3 AND lease_until > $2 AND (next_poll_at <= $2 OR $4)`,
		micros(retryAt), micros(now), holder, force))
	return n == 1, err
}

// execer is a database or a transaction.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// saveConnector writes c, replacing what was stored for the same kind and ID.
func saveConnector(ctx context.Context, q execer, c watch.Connector, at time.Time) error {
	detail, err := json.Marshal(connectorDetail{AppleID: c.AppleID, State: c.State, LastSyncAt: c.LastSyncAt, SyncErrorCode: c.SyncErrorCode})
	if err != nil {
		return err
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO watch_connectors (kind, id, name, expires_at, detail, read_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (kind, id) DO UPDATE SET name = excluded.name, expires_at = excluded.expires_at,
			detail = excluded.detail, read_at = excluded.read_at`,
		string(c.Kind), c.ID, c.Name, orZero(c.ExpiresAt), string(detail), micros(at)); err != nil {
		return fmt.Errorf("save connector %s %s: %w", c.Kind, c.ID, err)
	}
	return nil
}

// connectorDetail is what a connector holds beyond its key, name and expiry, as JSON.
type connectorDetail struct {
	AppleID       string    `json:"apple_id,omitempty"`
	State         string    `json:"state,omitempty"`
	LastSyncAt    time.Time `json:"last_sync_at,omitzero"`
	SyncErrorCode int       `json:"sync_error_code,omitempty"`
}

// SaveWatchRead replaces every stored connector in one transaction: a reader sees the last
// read or this one, never a mix.
func (db *DB) SaveWatchRead(ctx context.Context, connectors []watch.Connector, at, next time.Time) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM watch_connectors`); err != nil {
		return err
	}
	for _, c := range connectors {
		if err := saveConnector(ctx, tx, c, at); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE watch_state SET last_success_at = $1, next_poll_at = $2, failures = 0, last_error = ''
		WHERE name = 'watch'`, micros(at), micros(next)); err != nil {
		return err
	}
	return tx.Commit()
}

// SaveWatchConnector replaces one stored connector (a renewal's read-back) and leaves the
// others and the schedule as they are.
func (db *DB) SaveWatchConnector(ctx context.Context, c watch.Connector, at time.Time) error {
	return saveConnector(ctx, db.sql, c, at)
}

// ScheduleWatchPoll brings the next read forward to at (never back): the poller reads at its
// next step.
func (db *DB) ScheduleWatchPoll(ctx context.Context, at time.Time) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE watch_state SET next_poll_at = $1 WHERE name = 'watch' AND next_poll_at > $1`, micros(at))
	return err
}

// SupersedeReminders marks the pending reminders of a connector that were made for another
// expiry date: a renewal answered them before they were delivered.
func (db *DB) SupersedeReminders(ctx context.Context, kind watch.Kind, id string, expires time.Time) (int, error) {
	n, err := affected(db.sql.ExecContext(ctx, `UPDATE reminders SET state = $1
		WHERE kind = $2 AND connector_id = $3 AND state = $4 AND expires_at <> $5`,
		watch.ReminderSuperseded, string(kind), id, watch.ReminderPending, orZero(expiryDay(expires))))
	return int(n), err
}

// SaveWatchFailure keeps the connectors of the last good read: they are still the best
// knowledge there is, and the staleness of last_success_at says how old.
func (db *DB) SaveWatchFailure(ctx context.Context, message string, at, next time.Time) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE watch_state SET failures = failures + 1, last_error = $1, last_attempt_at = $2, next_poll_at = $3
		WHERE name = 'watch'`, cleanText(message), micros(at), micros(next))
	return err
}

// WatchState reads the shared state.
func (db *DB) WatchState(ctx context.Context) (watch.State, error) {
	var s watch.State
	var lease, next, attempt, success int64
	err := db.sql.QueryRowContext(ctx, `SELECT holder, lease_until, next_poll_at, last_attempt_at, last_success_at, failures, last_error
		FROM watch_state WHERE name = 'watch'`).Scan(&s.Holder, &lease, &next, &attempt, &success, &s.Failures, &s.LastError)
	s.LeaseUntil, s.NextPollAt, s.LastAttemptAt, s.LastSuccessAt = zeroOr(lease), zeroOr(next), zeroOr(attempt), zeroOr(success)
	return s, err
}

// WatchConnectors returns the connectors of the last good read, in watch.Sort's order.
func (db *DB) WatchConnectors(ctx context.Context) ([]watch.Connector, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT kind, id, name, expires_at, detail FROM watch_connectors`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []watch.Connector
	for rows.Next() {
		var c watch.Connector
		var kind, detail string
		var expires int64
		if err := rows.Scan(&kind, &c.ID, &c.Name, &expires, &detail); err != nil {
			return nil, err
		}
		var d connectorDetail
		if err := json.Unmarshal([]byte(detail), &d); err != nil {
			return nil, fmt.Errorf("connector %s %s: %w", kind, c.ID, err)
		}
		c.Kind, c.ExpiresAt = watch.Kind(kind), zeroOr(expires)
		c.AppleID, c.State, c.LastSyncAt, c.SyncErrorCode = d.AppleID, d.State, d.LastSyncAt, d.SyncErrorCode
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	watch.Sort(out)
	return out, nil
}

// cleanText makes an error message storable in PostgreSQL TEXT (valid UTF-8, no NUL) and
// bounds it: a message quotes whatever a server answered.
func cleanText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
	if len(s) > 2000 {
		s = strings.ToValidUTF8(s[:2000], "")
	}
	return s
}
