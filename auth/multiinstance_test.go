package auth_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/internal/testkit"
	"github.com/depportal/depportal/store"
)

// TestTwoInstancesRefreshOnce: two portal instances (their own pools, their own in-process
// locks) get a 401 for the same session at once. Only one may redeem the rotating refresh
// token; the other must pick up the new one instead of ending the session.
func TestTwoInstancesRefreshOnce(t *testing.T) {
	t.Parallel()
	first, url := testkit.MustPostgres(t)
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
