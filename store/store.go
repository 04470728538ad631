// Package store opens the portal's database (SQLite by default, PostgreSQL for more than one
// instance), applies the embedded migrations, and implements the storage interfaces that other
// packages declare: auth.Store (sign-ins, sessions), audit.Store (the trail, checkpoints),
// renewal.Store (pending uploads and their results) and watch.Store (the watch's lease and
// what it read).
//
// It owns SQL and nothing else: no policy lives here. It must never hold a secret in the clear:
// callers hand it sealed blobs and hashes.
package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

//go:embed migrations
var migrations embed.FS

// Dialect names the database engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open, migrated database.
type DB struct {
	sql     *sql.DB
	dialect Dialect
}

// Open connects to url ("sqlite:PATH" or "postgres://…") and migrates the schema.
func Open(ctx context.Context, url string) (*DB, error) {
	var db *DB
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		path := strings.TrimPrefix(url, "sqlite:")
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("create database folder: %w", err)
			}
		}
		// Sessions, sealed files and the audit trail: readable by the portal's user alone.
		// SQLite gives its -wal and -shm files the database file's permissions.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create database file: %w", err)
		}
		f.Close()
		if err := os.Chmod(path, 0o600); err != nil {
			return nil, fmt.Errorf("restrict database file: %w", err)
		}
		// WAL lets readers run beside the one writer; synchronous=FULL because the audit trail
		// promises that a committed record survives a power cut; IMMEDIATE write transactions
		// take the write lock up front instead of failing on upgrade under contention.
		dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
			"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
		conn, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, err
		}
		db = &DB{sql: conn, dialect: SQLite}
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		conn, err := sql.Open("pgx", url)
		if err != nil {
			return nil, err
		}
		conn.SetMaxOpenConns(20)
		db = &DB{sql: conn, dialect: Postgres}
	default:
		return nil, fmt.Errorf("database URL must start with sqlite: or postgres://")
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("connect to %s database: %w", db.dialect, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connection pool.
func (db *DB) Close() error { return db.sql.Close() }

// Dialect reports the engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// Ping reports whether the database answers; /readyz uses it.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// SQL exposes the pool to tests that must tamper with rows directly.
func (db *DB) SQL() *sql.DB { return db.sql }

func (db *DB) migrate(ctx context.Context) error {
	dir := "migrations/" + string(db.dialect)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })

	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if db.dialect == Postgres {
		// Two instances starting together must not both apply version N.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7267372)`); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, e := range entries {
		version, err := strconv.ParseInt(strings.SplitN(e.Name(), "_", 2)[0], 10, 64)
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		if version <= current {
			continue
		}
		body, err := migrations.ReadFile(dir + "/" + e.Name())
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, time.Now().Unix()); err != nil {
			return fmt.Errorf("migration %s: %w", e.Name(), err)
		}
	}
	return tx.Commit()
}

// affected is how many rows the UPDATE or DELETE res reports. A count the driver cannot give
// is an error, not zero rows: zero means "not found" to the callers.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
