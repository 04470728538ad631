package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/depportal/depportal/renewal"
)

var _ renewal.Store = (*DB)(nil)

const pendingColumns = `id, session_hash, setting_id, setting_name, apple_id, file_name, file_sha256, sealed, checks, created_at, expires_at, consumed_at, outcome`

// PutPendingUpload stores a reviewed upload.
func (db *DB) PutPendingUpload(ctx context.Context, p renewal.PendingRecord) error {
	checks, err := json.Marshal(p.Checks)
	if err != nil {
		return err
	}
	_, err = db.sql.ExecContext(ctx, `INSERT INTO pending_uploads (`+pendingColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, '')`,
		p.ID, p.SessionHash, p.SettingID, p.SettingName, p.AppleID, p.FileName, p.FileSHA256, p.Sealed,
		string(checks), micros(p.CreatedAt), micros(p.ExpiresAt))
	return err
}

type rowScanner interface{ Scan(...any) error }

func scanPending(row rowScanner) (renewal.PendingRecord, error) {
	var p renewal.PendingRecord
	var checks string
	var created, expires, consumed int64
	err := row.Scan(&p.ID, &p.SessionHash, &p.SettingID, &p.SettingName, &p.AppleID, &p.FileName, &p.FileSHA256,
		&p.Sealed, &checks, &created, &expires, &consumed, &p.Outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return p, renewal.ErrNotFound
	}
	if err != nil {
		return p, err
	}
	p.CreatedAt, p.ExpiresAt = fromMicros(created), fromMicros(expires)
	if consumed != 0 {
		p.ConsumedAt = fromMicros(consumed)
	}
	return p, json.Unmarshal([]byte(checks), &p.Checks)
}

// PendingUpload reads one pending upload.
func (db *DB) PendingUpload(ctx context.Context, id string) (renewal.PendingRecord, error) {
	return scanPending(db.sql.QueryRowContext(ctx, `SELECT `+pendingColumns+` FROM pending_uploads WHERE id = $1`, id))
}

// ConsumePendingUpload marks the upload used and empties its file in one statement; only the
// first caller gets the record (with the file), later ones ErrNotFound.
func (db *DB) ConsumePendingUpload(ctx context.Context, id string, at time.Time) (renewal.PendingRecord, error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return renewal.PendingRecord{}, err
	}
	defer tx.Rollback()
	p, err := scanPending(tx.QueryRowContext(ctx, `SELECT `+pendingColumns+` FROM pending_uploads WHERE id = $1 AND consumed_at = 0`+db.forUpdate(), id))
	if err != nil {
		return p, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE pending_uploads SET consumed_at = $1, sealed = $2 WHERE id = $3`, micros(at), []byte{}, id); err != nil {
		return renewal.PendingRecord{}, err
	}
	p.ConsumedAt = at
	return p, tx.Commit()
}

// forUpdate locks the row on PostgreSQL; SQLite's IMMEDIATE transaction already holds the
// database's write lock.
func (db *DB) forUpdate() string {
	if db.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// SetPendingOutcome records how the upload ended.
func (db *DB) SetPendingOutcome(ctx context.Context, id, outcome string) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE pending_uploads SET outcome = $1 WHERE id = $2`, outcome, id)
	return err
}

// SucceededRecently reports a successful upload of the same file to the same token since.
func (db *DB) SucceededRecently(ctx context.Context, settingID, fileSHA256 string, since time.Time) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM pending_uploads
		WHERE setting_id = $1 AND file_sha256 = $2 AND outcome = 'succeeded' AND consumed_at >= $3`,
		settingID, fileSHA256, micros(since)).Scan(&n)
	return n > 0, err
}

// DeletePendingUploadsBefore removes old rows.
func (db *DB) DeletePendingUploadsBefore(ctx context.Context, before time.Time) (int64, error) {
	res, err := db.sql.ExecContext(ctx, `DELETE FROM pending_uploads WHERE created_at < $1`, micros(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
