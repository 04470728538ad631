package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
)

// MustStoredSession creates a session holding tokens.
func MustStoredSession(tb testing.TB, db *store.DB, idHash, tokens string) {
	tb.Helper()
	now := time.Now().UTC()
	rec := auth.SessionRecord{
		IDHash: idHash, Identity: auth.Identity{TenantID: "t", ObjectID: "o", Subject: "s"},
		CreatedAt: now, LastSeenAt: now, Tokens: []byte(tokens),
	}
	if err := db.CreateSession(context.Background(), rec); err != nil {
		tb.Fatal(err)
	}
}

func MustTokens(tb testing.TB, db *store.DB, idHash string) string {
	tb.Helper()
	rec, err := db.Session(context.Background(), idHash)
	if err != nil {
		tb.Fatal(err)
	}
	return string(rec.Tokens)
}

// lockedElsewhere reports whether another transaction holds the session's row (PostgreSQL).
func lockedElsewhere(tb testing.TB, db *store.DB, idHash string) bool {
	tb.Helper()
	ctx := context.Background()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	var one int
	err = tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id_hash = $1 FOR UPDATE NOWAIT`, idHash).Scan(&one)
	return err != nil
}

func TestRefreshSessionWritesWhatRefreshReturns(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		MustStoredSession(t, db, "h1", "old")
		err := db.RefreshSession(ctx, "h1", func(rec auth.SessionRecord) ([]byte, error) {
			if string(rec.Tokens) != "old" || rec.Identity.Subject != "s" {
				t.Errorf("refresh got %+v", rec)
			}
			if db.Dialect() == store.Postgres && !lockedElsewhere(t, db, "h1") {
				t.Error("the session is not locked while refresh runs")
			}
			return []byte("new"), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := MustTokens(t, db, "h1"); got != "new" {
			t.Errorf("tokens %q, want new", got)
		}
		// nil: another request refreshed already, nothing to write.
		if err := db.RefreshSession(ctx, "h1", func(auth.SessionRecord) ([]byte, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
		if got := MustTokens(t, db, "h1"); got != "new" {
			t.Errorf("tokens %q after a nil refresh, want new", got)
		}
		called := false
		err = db.RefreshSession(ctx, "nope", func(auth.SessionRecord) ([]byte, error) { called = true; return []byte("x"), nil })
		if !errors.Is(err, auth.ErrNotFound) || called {
			t.Errorf("missing session: err %v, refresh called %v; want ErrNotFound, not called", err, called)
		}
	})
}

// TestRefreshSessionErrorRollsBack: an error from refresh writes nothing and leaves no lock: the
// next RefreshSession of the session proceeds at once.
func TestRefreshSessionErrorRollsBack(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		MustStoredSession(t, db, "h1", "old")
		boom := errors.New("provider down")
		err := db.RefreshSession(context.Background(), "h1", func(auth.SessionRecord) ([]byte, error) {
			return []byte("half-done"), boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err %v, want the refresh error", err)
		}
		if got := MustTokens(t, db, "h1"); got != "old" {
			t.Errorf("tokens %q after a failed refresh, want old", got)
		}
		if db.Dialect() == store.Postgres && lockedElsewhere(t, db, "h1") {
			t.Error("the session is still locked after a failed refresh")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		err = db.RefreshSession(ctx, "h1", func(auth.SessionRecord) ([]byte, error) { return []byte("new"), nil })
		took := time.Since(start)
		if err != nil {
			t.Fatalf("second refresh after %v: %v (a lock was left behind?)", took, err)
		}
		if took > time.Second {
			t.Errorf("second refresh waited %v", took)
		}
		if got := MustTokens(t, db, "h1"); got != "new" {
			t.Errorf("tokens %q, want new", got)
		}
	})
}

// TestRefreshSessionSerialisesInstances: on PostgreSQL a second RefreshSession of the same
// session, even from another pool, waits for the first to commit and then sees what it wrote.
func TestRefreshSessionSerialisesInstances(t *testing.T) {
	t.Parallel()
	db, _ := testkit.MustPostgres(t)
	MustStoredSession(t, db, "h1", "old")
	ctx := context.Background()
	inside := make(chan struct{})
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		first <- db.RefreshSession(ctx, "h1", func(auth.SessionRecord) ([]byte, error) {
			close(inside)
			<-release
			return []byte("first"), nil
		})
	}()
	<-inside
	second := make(chan string, 1)
	go func() {
		var seen string
		err := db.RefreshSession(ctx, "h1", func(rec auth.SessionRecord) ([]byte, error) {
			seen = string(rec.Tokens)
			return nil, nil
		})
		if err != nil {
			t.Error(err)
		}
		second <- seen
	}()
	select {
	case seen := <-second:
		t.Fatalf("second refresh ran (saw %q) while the first held the session", seen)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if seen := <-second; seen != "first" {
		t.Errorf("second refresh saw %q, want what the first wrote", seen)
	}
}
