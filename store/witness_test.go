package store_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/depportal/depportal/audit"
	"github.com/depportal/depportal/internal/testkit"
)

type fakeWitness struct {
	err     error
	release chan struct{} // nil: answer at once
	mu      sync.Mutex
	sizes   []int64
}

func (w *fakeWitness) String() string { return "fake" }
func (w *fakeWitness) Witness(ctx context.Context, c audit.Checkpoint) error {
	if w.release != nil {
		select {
		case <-w.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	w.mu.Lock()
	w.sizes = append(w.sizes, c.Size)
	w.mu.Unlock()
	return w.err
}

// A witness that fails is counted and logged; one that hangs holds nothing up; Close waits
// for the shutdown's checkpoint to be delivered.
func TestWitnessesNeverBlockTheTrail(t *testing.T) {
	t.Parallel()
	db := testkit.MustSQLite(t)
	skey, _, err := audit.GenerateKey("depportal-test/audit")
	if err != nil {
		t.Fatal(err)
	}
	broken := &fakeWitness{err: errors.New("connection refused")}
	slow := &fakeWitness{release: make(chan struct{})}
	var mu sync.Mutex
	results := map[string]int{}
	logs := &testkit.LogBuffer{}
	trail, err := audit.New(audit.Config{Store: db, SignerKey: skey, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Witnesses: []audit.Witness{broken, slow},
		OnWitness: func(w audit.Witness, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				results["failed"]++
			} else {
				results["ok"]++
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := trail.Append(context.Background(), audit.Entry{Type: audit.SignInSucceeded}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := trail.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := trail.Append(context.Background(), audit.Entry{Type: audit.SignInSucceeded}); err != nil {
		t.Fatalf("an append after a checkpoint whose witness hangs: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("checkpoint and append waited %v for a hanging witness", d)
	}
	close(slow.release)
	if err := trail.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if results["failed"] != 2 || results["ok"] != 2 {
		t.Errorf("witness results %v, want 2 failed (broken) and 2 ok (slow, once released)", results)
	}
	if slow.sizes[len(slow.sizes)-1] != 2 {
		t.Errorf("the shutdown checkpoint (size 2) was not delivered before Close returned: %v", slow.sizes)
	}
	if n := strings.Count(logs.String(), "audit witness failed"); n != 2 {
		t.Errorf("%d log lines for the failed deliveries, want 2", n)
	}
}
