package store_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/store"
)

// MustSQLite opens a fresh SQLite database in a temporary folder.
func MustSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "t.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// MustPostgres opens the local PostgreSQL server in a schema of its own. Outside CI a missing
// server skips the test with the reason; in CI (CI=true) it fails.
func MustPostgres(tb testing.TB) *store.DB {
	tb.Helper()
	base := os.Getenv("DEPPORTAL_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	admin, err := sql.Open("pgx", base)
	if err == nil {
		err = admin.Ping()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		tb.Skipf("no PostgreSQL reachable at %s (set DEPPORTAL_TEST_POSTGRES_URL): %v", base, err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		admin.Close()
	})
	db, err := store.Open(context.Background(), base+"&search_path="+schema)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func eachDatabase(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, MustSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, MustPostgres(t)) })
}

func TestLoginIsSingleUse(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		exp := time.Now().Add(10 * time.Minute).Truncate(time.Microsecond)
		in := auth.LoginRecord{StateHash: "s1", BindingHash: "b1", Sealed: []byte{1, 2, 3}, ExpiresAt: exp}
		if err := db.PutLogin(ctx, in); err != nil {
			t.Fatal(err)
		}
		got, err := db.TakeLogin(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if got.BindingHash != "b1" || string(got.Sealed) != "\x01\x02\x03" || !got.ExpiresAt.Equal(exp) {
			t.Errorf("got %+v", got)
		}
		if _, err := db.TakeLogin(ctx, "s1"); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("second take: %v", err)
		}
	})
}

func TestSessionRoundTrip(t *testing.T) {
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Microsecond)
		rec := auth.SessionRecord{
			IDHash:    "h1",
			Identity:  auth.Identity{TenantID: "t", ObjectID: "o", Subject: "s", Name: "Hannah Helpdesk", Username: "hannah@x", Roles: []string{"DepToken.Upload"}},
			CreatedAt: now, LastSeenAt: now, Tokens: []byte("sealed"),
		}
		if err := db.CreateSession(ctx, rec); err != nil {
			t.Fatal(err)
		}
		got, err := db.Session(ctx, "h1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Identity.Name != "Hannah Helpdesk" || len(got.Identity.Roles) != 1 || !got.CreatedAt.Equal(now) || string(got.Tokens) != "sealed" {
			t.Errorf("got %+v", got)
		}
		later := now.Add(time.Minute)
		if err := db.TouchSession(ctx, "h1", later); err != nil {
			t.Fatal(err)
		}
		if err := db.SetSessionTokens(ctx, "h1", []byte("resealed")); err != nil {
			t.Fatal(err)
		}
		got, _ = db.Session(ctx, "h1")
		if !got.LastSeenAt.Equal(later) || string(got.Tokens) != "resealed" {
			t.Errorf("after update: %+v", got)
		}
		if err := db.SetSessionTokens(ctx, "nope", nil); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("tokens for a missing session: %v", err)
		}
		if err := db.DeleteSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Session(ctx, "h1"); !errors.Is(err, auth.ErrNotFound) {
			t.Errorf("after delete: %v", err)
		}
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	path := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	for range 2 {
		db, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.SQL().QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n < 1 {
			t.Fatalf("schema_migrations: %d %v", n, err)
		}
		db.Close()
	}
}

func TestSQLiteIsDurable(t *testing.T) {
	db := MustSQLite(t)
	var mode string
	var sync int
	db.SQL().QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	db.SQL().QueryRow(`PRAGMA synchronous`).Scan(&sync)
	if mode != "wal" || sync != 2 {
		t.Errorf("journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, sync)
	}
}
