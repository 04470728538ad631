package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
)

func eachDatabase(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { f(t, testkit.MustSQLite(t)) })
	t.Run("postgres", func(t *testing.T) {
		db, _ := testkit.MustPostgres(t)
		f(t, db)
	})
}

func TestLoginIsSingleUse(t *testing.T) {
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
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
	t.Parallel()
	db := testkit.MustSQLite(t)
	var mode string
	var sync int
	db.SQL().QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	db.SQL().QueryRow(`PRAGMA synchronous`).Scan(&sync)
	if mode != "wal" || sync != 2 {
		t.Errorf("journal_mode=%s synchronous=%d, want wal and 2 (FULL)", mode, sync)
	}
}

// The database holds sessions, sealed files and the audit trail: no other user may read it,
// nor its write-ahead log.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "d.db")
	db, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SQL().Exec(`INSERT INTO login_transactions (state_hash, binding_hash, sealed, expires_at) VALUES ('s', 'b', x'00', 0)`); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"d.db", "d.db-wal", "d.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group and others", name, perm)
		}
	}
}
