package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/depportal/depportal/auth"
)

// Times are stored as Unix microseconds: exact, sortable, and the same in both engines.
func micros(t time.Time) int64 { return t.UnixMicro() }
func fromMicros(v int64) time.Time {
	return time.UnixMicro(v).UTC()
}

var _ auth.Store = (*DB)(nil)

// PutLogin saves a sign-in transaction.
func (db *DB) PutLogin(ctx context.Context, l auth.LoginRecord) error {
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO login_transactions (state_hash, binding_hash, sealed, expires_at) VALUES ($1, $2, $3, $4)`,
		l.StateHash, l.BindingHash, l.Sealed, micros(l.ExpiresAt))
	return err
}

// TakeLogin deletes and returns a sign-in transaction in one statement: a replayed state finds
// nothing.
func (db *DB) TakeLogin(ctx context.Context, stateHash string) (auth.LoginRecord, error) {
	var l auth.LoginRecord
	var expires int64
	err := db.sql.QueryRowContext(ctx,
		`DELETE FROM login_transactions WHERE state_hash = $1 RETURNING state_hash, binding_hash, sealed, expires_at`,
		stateHash).Scan(&l.StateHash, &l.BindingHash, &l.Sealed, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return l, auth.ErrNotFound
	}
	l.ExpiresAt = fromMicros(expires)
	return l, err
}

// CreateSession stores a new session.
func (db *DB) CreateSession(ctx context.Context, s auth.SessionRecord) error {
	roles, err := json.Marshal(s.Identity.Roles)
	if err != nil {
		return err
	}
	_, err = db.sql.ExecContext(ctx,
		`INSERT INTO sessions (id_hash, tenant_id, object_id, subject, name, username, roles, created_at, last_seen_at, tokens, provider_sid, login_hint)
		 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		s.IDHash, s.Identity.TenantID, s.Identity.ObjectID, s.Identity.Subject, s.Identity.Name, s.Identity.Username,
		string(roles), micros(s.CreatedAt), micros(s.LastSeenAt), s.Tokens, s.Identity.SessionID, s.Identity.LoginHint)
	return err
}

// sessionColumns are the columns scanSession reads, in its order.
const sessionColumns = `id_hash, tenant_id, object_id, subject, name, username, roles, created_at, last_seen_at, tokens, provider_sid, login_hint`

// Session loads a session by the hash of its cookie value.
func (db *DB) Session(ctx context.Context, idHash string) (auth.SessionRecord, error) {
	return scanSession(db.sql.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id_hash = $1`, idHash))
}

func scanSession(row *sql.Row) (auth.SessionRecord, error) {
	var s auth.SessionRecord
	var roles string
	var created, seen int64
	err := row.Scan(&s.IDHash, &s.Identity.TenantID, &s.Identity.ObjectID, &s.Identity.Subject, &s.Identity.Name,
		&s.Identity.Username, &roles, &created, &seen, &s.Tokens, &s.Identity.SessionID, &s.Identity.LoginHint)
	if errors.Is(err, sql.ErrNoRows) {
		return s, auth.ErrNotFound
	}
	if err != nil {
		return s, err
	}
	s.CreatedAt, s.LastSeenAt = fromMicros(created), fromMicros(seen)
	return s, json.Unmarshal([]byte(roles), &s.Identity.Roles)
}

// TouchSession records activity for the idle timeout.
func (db *DB) TouchSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id_hash = $2`, micros(at), idHash)
	return err
}

// SetSessionTokens replaces the sealed Graph tokens after a refresh.
func (db *DB) SetSessionTokens(ctx context.Context, idHash string, sealed []byte) error {
	n, err := affected(db.sql.ExecContext(ctx, `UPDATE sessions SET tokens = $1 WHERE id_hash = $2`, sealed, idHash))
	if err != nil {
		return err
	}
	if n == 0 {
		return auth.ErrNotFound
	}
	return nil
}

// RefreshSession re-reads a session, calls refresh with it and saves the sealed tokens refresh
// returns (nil: nothing to save). See auth.Store for the contract.
//
// PostgreSQL: one transaction on one connection. SELECT … FOR UPDATE holds the row against
// every other instance until COMMIT or ROLLBACK, so the lock cannot outlive the transaction:
// an error from refresh, a failed write or a cancelled context all roll back and release it,
// and no connection goes back to the pool still holding it.
//
// SQLite has one instance by design, and the caller's in-process lock serialises refreshes; a
// database lock would be an IMMEDIATE transaction that blocks the audit trail's writer for the
// length of a network call. So it reads, calls and writes, without a transaction.
func (db *DB) RefreshSession(ctx context.Context, idHash string, refresh func(rec auth.SessionRecord) ([]byte, error)) error {
	if db.dialect != Postgres {
		rec, err := db.Session(ctx, idHash)
		if err != nil {
			return err
		}
		sealed, err := refresh(rec)
		if err != nil || sealed == nil {
			return err
		}
		return db.SetSessionTokens(ctx, idHash, sealed)
	}
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rec, err := scanSession(tx.QueryRowContext(ctx,
		`SELECT `+sessionColumns+` FROM sessions WHERE id_hash = $1 FOR UPDATE`, idHash))
	if err != nil {
		return err
	}
	sealed, err := refresh(rec)
	if err != nil {
		return err
	}
	if sealed != nil {
		n, err := affected(tx.ExecContext(ctx, `UPDATE sessions SET tokens = $1 WHERE id_hash = $2`, sealed, idHash))
		if err != nil {
			return err
		}
		if n == 0 {
			return auth.ErrNotFound
		}
	}
	return tx.Commit()
}

// DeleteSession ends a session.
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	_, err := db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = $1`, idHash)
	return err
}

// DeleteSessionsBySID ends every session the provider's session sid signed in; an empty sid
// matches nothing (sessions from before sid was stored have none).
func (db *DB) DeleteSessionsBySID(ctx context.Context, sid string) (int64, error) {
	if sid == "" {
		return 0, nil
	}
	return affected(db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE provider_sid = $1`, sid))
}

// DeleteExpired removes finished sign-in transactions and expired sessions.
func (db *DB) DeleteExpired(ctx context.Context, loginsBefore, idleBefore, createdBefore time.Time) (int64, error) {
	n1, err := affected(db.sql.ExecContext(ctx, `DELETE FROM login_transactions WHERE expires_at < $1`, micros(loginsBefore)))
	if err != nil {
		return 0, err
	}
	n2, err := affected(db.sql.ExecContext(ctx, `DELETE FROM sessions WHERE last_seen_at < $1 OR created_at < $2`, micros(idleBefore), micros(createdBefore)))
	return n1 + n2, err
}
