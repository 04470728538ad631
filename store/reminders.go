package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/depportal/depportal/watch"
)

var _ watch.ReminderStore = (*DB)(nil)

// AddReminders inserts each reminder unless its (kind, connector, expiry, reason, channel)
// exists: ON CONFLICT DO NOTHING, which both engines take, makes two instances (or a restart)
// that find the same threshold agree on one row.
func (db *DB) AddReminders(ctx context.Context, rs []watch.Reminder) (int, error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	added := 0
	for _, r := range rs {
		connector, err := json.Marshal(r.Connector)
		if err != nil {
			return 0, err
		}
		n, err := affected(tx.ExecContext(ctx, `INSERT INTO reminders (id, kind, connector_id, expires_at, reason, channel, connector,
			created_at, state, attempts, next_attempt_at, sent_at, last_error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, 0, '') ON CONFLICT DO NOTHING`,
			r.ID, string(r.Connector.Kind), r.Connector.ID, orZero(expiryDay(r.Connector.ExpiresAt)), r.Reason, r.Channel, string(connector),
			micros(r.CreatedAt), r.State, micros(r.NextAttemptAt)))
		if err != nil {
			return 0, fmt.Errorf("add reminder %s %s: %w", r.Connector.ID, r.Reason, err)
		}
		added += int(n)
	}
	return added, tx.Commit()
}

// expiryDay is the expiry date a reminder is keyed on: the UTC day, not the instant, so that
// an expiry Intune reports a second differently (or the sandbox, dated from its start, after a
// restart) is the same date, while a renewal, a year on, is a new one.
func expiryDay(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(24 * time.Hour)
}

const reminderColumns = `id, reason, channel, connector, created_at, state, attempts, next_attempt_at, sent_at, last_error`

func scanReminder(row rowScanner) (watch.Reminder, error) {
	var r watch.Reminder
	var connector string
	var created, next, sent int64
	if err := row.Scan(&r.ID, &r.Reason, &r.Channel, &connector, &created, &r.State, &r.Attempts, &next, &sent, &r.LastError); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(connector), &r.Connector); err != nil {
		return r, fmt.Errorf("reminder %s: %w", r.ID, err)
	}
	r.CreatedAt, r.NextAttemptAt, r.SentAt = zeroOr(created), zeroOr(next), zeroOr(sent)
	return r, nil
}

// DueReminders returns the pending reminders due at now, oldest first.
func (db *DB) DueReminders(ctx context.Context, now time.Time, limit int) ([]watch.Reminder, error) {
	return db.queryReminders(ctx, `SELECT `+reminderColumns+` FROM reminders WHERE state = $1 AND next_attempt_at <= $2
		ORDER BY created_at, id LIMIT $3`, watch.ReminderPending, micros(now), limit)
}

// Reminders returns every reminder, oldest first (for `depportal watch` and tests).
func (db *DB) Reminders(ctx context.Context) ([]watch.Reminder, error) {
	return db.queryReminders(ctx, `SELECT `+reminderColumns+` FROM reminders ORDER BY created_at, id`)
}

func (db *DB) queryReminders(ctx context.Context, query string, args ...any) ([]watch.Reminder, error) {
	rows, err := db.sql.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []watch.Reminder
	for rows.Next() {
		r, err := scanReminder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SaveReminderAttempt records an attempt's outcome. Only a pending row changes: a reminder
// already sent or given up stays so.
func (db *DB) SaveReminderAttempt(ctx context.Context, r watch.Reminder) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE reminders SET state = $1, attempts = $2, next_attempt_at = $3, sent_at = $4, last_error = $5
		WHERE id = $6 AND state = $7`, r.State, r.Attempts, micros(r.NextAttemptAt), orZero(r.SentAt), cleanText(r.LastError), r.ID, watch.ReminderPending)
	return err
}
