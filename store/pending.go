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

const pendingColumns = `id, session_hash, setting_id, setting_name, apple_id, file_name, file_sha256, sealed, checks,
	created_at, expires_at, consumed_at, outcome, owner_tenant, owner_oid, owner_name, setting, intent_seq, finished_at, result`

// PutPendingUpload stores a reviewed upload.
func (db *DB) PutPendingUpload(ctx context.Context, p renewal.PendingRecord) error {
	checks, err := json.Marshal(p.Checks)
	if err != nil {
		return err
	}
	setting, err := json.Marshal(p.Setting)
	if err != nil {
		return err
	}
	_, err = db.sql.ExecContext(ctx, `INSERT INTO pending_uploads (`+pendingColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 0, '', $12, $13, $14, $15, 0, 0, '')`,
		p.ID, p.SessionHash, p.SettingID, p.SettingName, p.AppleID, p.FileName, p.FileSHA256, p.Sealed,
		string(checks), micros(p.CreatedAt), micros(p.ExpiresAt), p.OwnerTenant, p.OwnerOID, p.OwnerName, string(setting))
	return err
}

type rowScanner interface{ Scan(...any) error }

func scanPending(row rowScanner) (renewal.PendingRecord, error) {
	var p renewal.PendingRecord
	var checks, setting, result, outcome string
	var created, expires, consumed, finished int64
	err := row.Scan(&p.ID, &p.SessionHash, &p.SettingID, &p.SettingName, &p.AppleID, &p.FileName, &p.FileSHA256,
		&p.Sealed, &checks, &created, &expires, &consumed, &outcome, &p.OwnerTenant, &p.OwnerOID, &p.OwnerName,
		&setting, &p.IntentSeq, &finished, &result)
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
	if err := json.Unmarshal([]byte(checks), &p.Checks); err != nil {
		return p, err
	}
	if setting != "" {
		if err := json.Unmarshal([]byte(setting), &p.Setting); err != nil {
			return p, err
		}
	}
	if result != "" {
		if err := json.Unmarshal([]byte(result), &p.Result); err != nil {
			return p, err
		}
	}
	// The column is the truth (it is what the duplicate check reads); the JSON adds the detail.
	p.Result.Outcome = renewal.Outcome(outcome)
	if finished != 0 {
		p.Result.FinishedAt = fromMicros(finished)
	}
	return p, nil
}

// PendingUpload reads one pending upload.
func (db *DB) PendingUpload(ctx context.Context, id string) (renewal.PendingRecord, error) {
	return scanPending(db.sql.QueryRowContext(ctx, `SELECT `+pendingColumns+` FROM pending_uploads WHERE id = $1`, id))
}

// CountPendingUploads counts the uploads a session checked that wait for confirmation now.
func (db *DB) CountPendingUploads(ctx context.Context, sessionHash string, now time.Time) (int, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM pending_uploads WHERE session_hash = $1 AND consumed_at = 0 AND expires_at > $2`,
		sessionHash, micros(now)).Scan(&n)
	return n, err
}

// PendingUploadByIntent finds the upload whose audit intent record is intentSeq.
func (db *DB) PendingUploadByIntent(ctx context.Context, intentSeq int64) (renewal.PendingRecord, error) {
	if intentSeq <= 0 {
		return renewal.PendingRecord{}, renewal.ErrNotFound
	}
	return scanPending(db.sql.QueryRowContext(ctx, `SELECT `+pendingColumns+` FROM pending_uploads WHERE intent_seq = $1`, intentSeq))
}

// ClaimPendingUpload marks the upload as being sent and takes its file out, in one
// transaction; only the first caller gets the record (with the file), later ones ErrNotFound.
func (db *DB) ClaimPendingUpload(ctx context.Context, id string, at time.Time) (renewal.PendingRecord, error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return renewal.PendingRecord{}, err
	}
	defer tx.Rollback()
	p, err := scanPending(tx.QueryRowContext(ctx, `SELECT `+pendingColumns+` FROM pending_uploads WHERE id = $1 AND consumed_at = 0`+db.forUpdate(), id))
	if err != nil {
		return p, err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE pending_uploads SET consumed_at = $1, sealed = $2, outcome = $3 WHERE id = $4`,
		micros(at), []byte{}, string(renewal.Sending), id); err != nil {
		return renewal.PendingRecord{}, err
	}
	p.ConsumedAt, p.Result.Outcome = at, renewal.Sending
	return p, tx.Commit()
}

// ReleasePendingUpload undoes a claim whose upload was never sent.
func (db *DB) ReleasePendingUpload(ctx context.Context, id string, sealed []byte) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE pending_uploads SET consumed_at = 0, sealed = $1, outcome = '' WHERE id = $2 AND outcome = $3`,
		sealed, id, string(renewal.Sending))
	return err
}

// forUpdate locks the row on PostgreSQL; SQLite's IMMEDIATE transaction already holds the
// database's write lock.
func (db *DB) forUpdate() string {
	if db.dialect == Postgres {
		return " FOR UPDATE"
	}
	return ""
}

// SaveUploadResult records how the upload ended (or what is known so far).
func (db *DB) SaveUploadResult(ctx context.Context, id string, r renewal.UploadResult) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	var finished int64
	if !r.FinishedAt.IsZero() {
		finished = micros(r.FinishedAt)
	}
	n, err := affected(db.sql.ExecContext(ctx, `UPDATE pending_uploads SET outcome = $1, result = $2, intent_seq = $3, finished_at = $4 WHERE id = $5`,
		string(r.Outcome), string(raw), r.IntentSeq, finished, id))
	if err != nil {
		return err
	}
	if n == 0 {
		return renewal.ErrNotFound
	}
	return nil
}

// LastUpload returns the newest upload of this file to this token since the given time that
// Intune took or may have taken (succeeded, unknown or still sending).
func (db *DB) LastUpload(ctx context.Context, settingID, fileSHA256 string, since time.Time) (renewal.PendingRecord, bool, error) {
	p, err := scanPending(db.sql.QueryRowContext(ctx, `SELECT `+pendingColumns+` FROM pending_uploads
		WHERE setting_id = $1 AND file_sha256 = $2 AND outcome IN ('succeeded', 'unknown', 'sending') AND consumed_at >= $3
		ORDER BY consumed_at DESC LIMIT 1`,
		settingID, fileSHA256, micros(since)))
	if errors.Is(err, renewal.ErrNotFound) {
		return p, false, nil
	}
	return p, err == nil, err
}

// DeletePendingUploadsBefore removes old rows.
func (db *DB) DeletePendingUploadsBefore(ctx context.Context, before time.Time) (int64, error) {
	return affected(db.sql.ExecContext(ctx, `DELETE FROM pending_uploads WHERE created_at < $1`, micros(before)))
}
