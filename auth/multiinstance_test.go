package auth_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/store"
)

// MustPostgresDB opens the local PostgreSQL in a fresh schema. Outside CI a missing server skips
// with the reason; in CI (CI=true) it fails.
func MustPostgresDB(tb testing.TB) (*store.DB, string) {
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
	schema := "auth_" + hex.EncodeToString(b)
	if _, err := admin.Exec(`CREATE SCHEMA ` + schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`); admin.Close() })
	url := base + "&search_path=" + schema
	db, err := store.Open(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db, url
}

// TestTwoInstancesRefreshOnce: two portal instances (their own pools, their own in-process
// locks) get a 401 for the same session at once. Only one may redeem the rotating refresh
// token; the other must pick up the new one instead of ending the session.
func TestTwoInstancesRefreshOnce(t *testing.T) {
	first, url := MustPostgresDB(t)
	second, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()

	op := newTestOP(t)
	clock := &testClock{now: time.Now()}
	instance := func(db *store.DB) (*auth.SignIn, *auth.Sessions) {
		signIn, err := auth.NewSignIn(auth.SignInConfig{
			Issuer: op.issuer, TenantID: testTenant, ClientID: testClient, ClientSecret: "secret",
			RedirectURL: "http://localhost/auth/callback", GraphScope: "https://graph.microsoft.com/DeviceManagementServiceConfig.ReadWrite.All",
			Now: clock.Now,
		}, db, sessionKey)
		if err != nil {
			t.Fatal(err)
		}
		sessions, err := auth.NewSessions(auth.SessionConfig{IdleTimeout: time.Hour, AbsoluteTimeout: 8 * time.Hour, Now: clock.Now}, db, sessionKey, signIn)
		if err != nil {
			t.Fatal(err)
		}
		return signIn, sessions
	}
	signInA, sessionsA := instance(first)
	_, sessionsB := instance(second)
	r := &rig{op: op, db: first, signIn: signInA, sessions: sessionsA, clock: clock}
	done := MustLogin(t, r)
	raw, _, err := sessionsA.Create(context.Background(), done.Identity, done.Token)
	if err != nil {
		t.Fatal(err)
	}
	sessA, err := sessionsA.Load(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	sessB, err := sessionsB.Load(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	a, b := sessionsA.Delegated(sessA), sessionsB.Delegated(sessB)
	a.AccessToken(context.Background())
	b.AccessToken(context.Background())

	var wg sync.WaitGroup
	var errA, errB error
	var tokA, tokB string
	wg.Go(func() { tokA, errA = a.Refresh(context.Background()) })
	wg.Go(func() { tokB, errB = b.Refresh(context.Background()) })
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("refresh: %v / %v (the session was lost to a refresh race)", errA, errB)
	}
	if tokA != tokB || op.refreshed != 1 {
		t.Errorf("tokens differ or refreshed %d times, want one refresh shared by both", op.refreshed)
	}
}
