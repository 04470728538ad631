package store_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
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
	// lag delays the answer for a checkpoint of that size, once released (a witness that
	// takes longer over one POST than over the next).
	lag   map[int64]time.Duration
	mu    sync.Mutex
	sizes []int64
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
	time.Sleep(w.lag[c.Size])
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
	// Slow, and slower over the first checkpoint than over the second: were both sent at
	// once, the second would arrive first.
	slow := &fakeWitness{release: make(chan struct{}), lag: map[int64]time.Duration{1: 200 * time.Millisecond}}
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
	// Both checkpoints waited for the slow witness; it gets them in the order they were made.
	if !slices.Equal(slow.sizes, []int64{1, 2}) {
		t.Errorf("the slow witness got checkpoints of sizes %v, want 1 then the shutdown's 2, before Close returned", slow.sizes)
	}
	if n := strings.Count(logs.String(), "audit witness failed"); n != 2 {
		t.Errorf("%d log lines for the failed deliveries, want 2", n)
	}
}
