package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/depportal/depportal/auth"
	"github.com/depportal/depportal/store"
)

// Front-channel logout ends every session of the provider's session sid, and only those; the
// sid and login_hint come back with the session.
func TestDeleteSessionsBySID(t *testing.T) {
	t.Parallel()
	eachDatabase(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Now().UTC()
		for hash, sid := range map[string]string{"a1": "sid-a", "a2": "sid-a", "b1": "sid-b", "none": ""} {
			rec := auth.SessionRecord{IDHash: hash, CreatedAt: now, LastSeenAt: now, Tokens: []byte("t"),
				Identity: auth.Identity{TenantID: "t", ObjectID: "o", Subject: "s", SessionID: sid, LoginHint: "hint-" + sid}}
			if err := db.CreateSession(ctx, rec); err != nil {
				t.Fatal(err)
			}
		}
		if rec, err := db.Session(ctx, "b1"); err != nil || rec.Identity.SessionID != "sid-b" || rec.Identity.LoginHint != "hint-sid-b" {
			t.Fatalf("b1: %+v %v", rec.Identity, err)
		}
		if n, err := db.DeleteSessionsBySID(ctx, "sid-a"); err != nil || n != 2 {
			t.Errorf("deleted %d (%v), want 2", n, err)
		}
		if n, err := db.DeleteSessionsBySID(ctx, ""); err != nil || n != 0 {
			t.Errorf("an empty sid deleted %d (%v)", n, err)
		}
		for hash, alive := range map[string]bool{"a1": false, "a2": false, "b1": true, "none": true} {
			_, err := db.Session(ctx, hash)
			if alive != (err == nil) || (!alive && !errors.Is(err, auth.ErrNotFound)) {
				t.Errorf("%s: %v, alive want %v", hash, err, alive)
			}
		}
	})
}
