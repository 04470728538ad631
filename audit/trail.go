package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Config is everything a Trail depends on.
type Config struct {
	Store     Store
	SignerKey string       // from GenerateKey, ParseKey or LoadOrCreateKey
	Logger    *slog.Logger // every record is also logged here as msg "audit"; nil: slog.Default()
	Now       func() time.Time
	// Observe, when set, is told how long each committed append took (the durable write; the
	// depportal_audit_append_duration_seconds metric).
	Observe func(time.Duration)
	// OldVerifierKeys are the verifier keys of earlier signing keys: after a rotation the
	// checkpoints they signed must still verify.
	OldVerifierKeys []string

	// Witnesses get a copy of every checkpoint as it is signed (witness.go). A delivery runs
	// beside the portal, bounded in time, and never holds anything up; OnWitness hears how
	// each went (metrics).
	Witnesses []Witness
	OnWitness func(w Witness, err error)

	CheckpointEvery    int64         // sign a checkpoint every this many records; 0: 100
	CheckpointInterval time.Duration // and at least this often, even when idle; 0: one hour
	Poll               time.Duration // how often Run looks at the clock; 0: one minute
}

// Trail appends records and signs checkpoints. It is safe for concurrent use.
type Trail struct {
	store     Store
	signer    note.Signer
	verifiers note.Verifiers // this key's and the old ones
	vkeys     []string
	vkey      string
	log       *slog.Logger
	now       func() time.Time
	observe   func(time.Duration)
	every     int64
	interval  time.Duration
	poll      time.Duration

	// closing holds appends out while Close writes the last checkpoint; appendMu queues this
	// process's appenders so they do not spin on the database's lock.
	closing  sync.RWMutex
	closed   bool
	appendMu sync.Mutex
	cpMu     sync.Mutex // one checkpoint at a time, so each verifies from the one before

	statusMu sync.Mutex
	status   Status

	witnesses  []Witness
	queues     []*witnessQueue // one per witness, in the same order
	onWitness  func(Witness, error)
	delivering sync.WaitGroup // witness deliveries in flight; Close waits for them
}

// witnessQueue holds the checkpoints one witness has yet to get, oldest first.
type witnessQueue struct {
	mu      sync.Mutex
	pending []Checkpoint
	running bool // a goroutine is delivering them
}

// Status is what the UI banner shows: did the chain verify when it was last checked?
type Status struct {
	Checked bool      // false until the first check finished
	Intact  bool      // meaningful when Checked
	Size    int64     // records covered by the check
	At      time.Time // when the check ran (trail clock)
	Problem *Problem  // the first problem found; sticky until the process restarts
}

// ErrClosed is returned by Append after Close: a portal shutting down records nothing more.
var ErrClosed = errors.New("audit trail closed")

// ErrUnavailable: the trail could not record a step, so the step must not be taken. Every
// package that records before acting returns errors wrapping it, and the pages say so.
var ErrUnavailable = errors.New("the audit trail cannot be written")

// Unrecorded is the error of a step not taken because its record could not be written: err
// (from any Auditor, the Trail or a test's) wrapped in ErrUnavailable unless it already is.
func Unrecorded(err error) error {
	if errors.Is(err, ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// New returns a Trail. It does not touch the database; Run starts the background work.
func New(cfg Config) (*Trail, error) {
	if cfg.Store == nil {
		return nil, errors.New("audit: no store")
	}
	skey, vkey, err := ParseKey(cfg.SignerKey)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, err
	}
	vkeys := append([]string{vkey}, cfg.OldVerifierKeys...)
	verifiers, err := parseVerifiers(vkeys)
	if err != nil {
		return nil, err
	}
	t := &Trail{
		store: cfg.Store, signer: signer, verifiers: verifiers, vkeys: vkeys, vkey: vkey, log: cfg.Logger, now: cfg.Now, observe: cfg.Observe,
		every: cfg.CheckpointEvery, interval: cfg.CheckpointInterval, poll: cfg.Poll,
		witnesses: cfg.Witnesses, onWitness: cfg.OnWitness,
	}
	for range t.witnesses {
		t.queues = append(t.queues, &witnessQueue{})
	}
	if t.log == nil {
		t.log = slog.Default()
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.every <= 0 {
		t.every = 100
	}
	if t.interval <= 0 {
		t.interval = time.Hour
	}
	if t.poll <= 0 {
		t.poll = time.Minute
	}
	return t, nil
}

// VerifierKey is the public key that checks this trail's checkpoints; give it to auditors.
func (t *Trail) VerifierKey() string { return t.vkey }

// Append commits one record and returns it. It returns only after the record is durable; on
// any error nothing was recorded and the caller must not perform the action (fail closed).
// Every error but an invalid entry wraps ErrUnavailable.
func (t *Trail) Append(ctx context.Context, e Entry) (Record, error) {
	e, err := e.normalised()
	if err != nil {
		return Record{}, err
	}
	t.closing.RLock()
	defer t.closing.RUnlock()
	if t.closed {
		return Record{}, fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)
	}
	t.appendMu.Lock()
	began := time.Now() // real time, not the injected clock: this measures the database
	rec, err := t.store.AppendRecord(ctx, func(head Head) (Record, error) {
		now := t.now().UTC().Truncate(time.Microsecond)
		if now.Before(head.Time) {
			// Time never runs backwards along the chain (a clock step, or another instance
			// with a slower clock), so a time range is also a range of Seq.
			now = head.Time
		}
		r := Record{Seq: head.Seq + 1, Time: now, Entry: e, PrevHash: head.Hash}
		r.Hash = r.ComputeHash()
		return r, nil
	})
	t.appendMu.Unlock()
	if err != nil {
		return Record{}, fmt.Errorf("%w: record %s: %w", ErrUnavailable, e.Type, err)
	}
	if t.observe != nil {
		t.observe(time.Since(began))
	}
	// Grouped: a flat "time" would collide with the handler's own timestamp.
	t.log.LogAttrs(ctx, slog.LevelInfo, "audit", slog.Any("record", slog.GroupValue(recordAttrs(&rec)...)))
	if rec.Seq%t.every == 0 {
		// The record is committed; a failed checkpoint must not undo the action. The next
		// checkpoint covers it.
		if _, err := t.checkpoint(ctx, Head{Seq: rec.Seq, Time: rec.Time, Hash: rec.Hash}); err != nil {
			t.log.LogAttrs(ctx, slog.LevelError, "audit checkpoint failed", slog.Int64("size", rec.Seq), slog.String("error", err.Error()))
		}
	}
	return rec, nil
}

// Checkpoint signs and stores a checkpoint of the current head.
func (t *Trail) Checkpoint(ctx context.Context) (Checkpoint, error) {
	head, err := t.store.Head(ctx)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit checkpoint: %w", err)
	}
	return t.checkpoint(ctx, head)
}

// Close stops appends and writes a last checkpoint, so the shutdown time is provable.
func (t *Trail) Close(ctx context.Context) error {
	t.closing.Lock()
	defer t.closing.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	_, err := t.Checkpoint(ctx)
	// The shutdown's checkpoint is the one a witness most needs.
	done := make(chan struct{})
	go func() { t.delivering.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return err
}

// Run verifies the whole chain once, then signs a checkpoint whenever CheckpointInterval has
// passed since the last one, even with no new records: a silent hour is then provably silent,
// not a gap someone cut out. It returns when ctx ends.
func (t *Trail) Run(ctx context.Context) error {
	report, err := Verify(ctx, t.store, t.vkeys...)
	switch {
	case ctx.Err() != nil:
		return nil
	case err != nil:
		t.log.LogAttrs(ctx, slog.LevelError, "audit verify failed", slog.String("error", err.Error()))
	default:
		t.setStatus(report.Records, report.Problem)
	}
	tick := time.NewTicker(t.poll)
	defer tick.Stop()
	for {
		if err := t.checkpointIfDue(ctx); err != nil && ctx.Err() == nil {
			t.log.LogAttrs(ctx, slog.LevelError, "audit checkpoint failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// LastVerified reports the latest verification for the UI banner.
func (t *Trail) LastVerified() Status {
	t.statusMu.Lock()
	defer t.statusMu.Unlock()
	return t.status
}

// Query returns one page of records for the UI, newest first: up to pageSize records with Seq
// below beforeSeq (0: from the newest). nextBefore is the beforeSeq of the next page, 0 when
// this is the last.
func (t *Trail) Query(ctx context.Context, f Filter, pageSize int, beforeSeq int64) (records []Record, nextBefore int64, err error) {
	pageSize = min(max(pageSize, 1), 500)
	records, err = t.store.NewestRecords(ctx, f, pageSize+1, beforeSeq)
	if err != nil {
		return nil, 0, fmt.Errorf("audit query: %w", err)
	}
	if len(records) > pageSize {
		records = records[:pageSize]
		nextBefore = records[pageSize-1].Seq
	}
	return records, nextBefore, nil
}

func (t *Trail) checkpointIfDue(ctx context.Context) error {
	last, err := t.store.LastCheckpoint(ctx)
	if err != nil && !errors.Is(err, ErrNoCheckpoint) {
		return err
	}
	if err == nil && t.now().Sub(last.Time) < t.interval {
		return nil
	}
	_, err = t.Checkpoint(ctx)
	return err
}

// checkpoint signs head after checking the records since the previous checkpoint: they must
// chain from its hash to head's. That keeps LastVerified current at the cost of reading
// CheckpointEvery records.
func (t *Trail) checkpoint(ctx context.Context, head Head) (Checkpoint, error) {
	t.cpMu.Lock()
	defer t.cpMu.Unlock()
	prev, err := t.store.LastCheckpoint(ctx)
	switch {
	case errors.Is(err, ErrNoCheckpoint):
		prev = Checkpoint{}
	case err != nil:
		return Checkpoint{}, err
	}
	var problem *Problem
	if prev.Size <= head.Seq {
		if problem, err = t.verifySince(ctx, prev, head); err != nil {
			return Checkpoint{}, err
		}
		t.setStatus(head.Seq, problem)
	} else if now, err := t.store.Head(ctx); err != nil {
		return Checkpoint{}, err
	} else if now.Seq < prev.Size {
		// Records never go away; a checkpoint beyond the head means someone removed them.
		problem = &Problem{Seq: now.Seq + 1, Kind: TailTruncated,
			Detail: fmt.Sprintf("checkpoint %d covers %d records but only %d remain", prev.ID, prev.Size, now.Seq)}
		t.setStatus(now.Seq, problem)
	}
	// Otherwise another appender signed a later head meanwhile and checked up to it.
	if problem != nil {
		// Still sign: the checkpoint states what the head is now, which keeps later tampering
		// detectable; the break itself stays on the banner and in the log.
		t.log.LogAttrs(ctx, slog.LevelError, "audit chain broken", slog.Int64("seq", problem.Seq),
			slog.String("kind", string(problem.Kind)), slog.String("detail", problem.Detail))
	}
	c, err := signCheckpoint(t.signer, head.Seq, head.Hash, t.now())
	if err != nil {
		return Checkpoint{}, err
	}
	if err := t.store.AddCheckpoint(ctx, c); err != nil {
		return Checkpoint{}, fmt.Errorf("store audit checkpoint: %w", err)
	}
	// The note goes to the log too: a copy outside the database is what makes deleting
	// checkpoint rows (with the records after them) detectable.
	t.log.LogAttrs(ctx, slog.LevelInfo, "audit checkpoint", slog.Int64("size", c.Size),
		slog.String("hash", c.Hash.String()), slog.String("note", c.Note))
	t.witness(c)
	return c, nil
}

// witness hands c to every witness, each on its own goroutine and deadline: a slow or broken
// witness is logged and counted, never waited for (but Close waits for the last ones).
func (t *Trail) witness(c Checkpoint) {
	for i, w := range t.witnesses {
		q := t.queues[i]
		q.mu.Lock()
		q.pending = append(q.pending, c)
		start := !q.running
		q.running = true
		q.mu.Unlock()
		if start {
			t.delivering.Go(func() { t.deliver(w, q) })
		}
	}
}

// deliver hands w the checkpoints of q one after another, oldest first, until none is left:
// however slow it is, a witness sees the trail grow and never an older checkpoint after a
// newer one.
func (t *Trail) deliver(w Witness, q *witnessQueue) {
	for {
		q.mu.Lock()
		if len(q.pending) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		c := q.pending[0]
		q.pending = q.pending[1:]
		q.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), witnessTimeout)
		err := w.Witness(ctx, c)
		if err != nil {
			t.log.LogAttrs(ctx, slog.LevelError, "audit witness failed", slog.String("witness", w.String()),
				slog.Int64("size", c.Size), slog.String("error", err.Error()))
		}
		cancel()
		if t.onWitness != nil {
			t.onWitness(w, err)
		}
	}
}

// verifySince checks the previous checkpoint's signature, that the record it covers last is
// still there with the hash it signed, and that the records after it chain up to head.
func (t *Trail) verifySince(ctx context.Context, prev Checkpoint, head Head) (*Problem, error) {
	w := walker{next: 1}
	var anchor int64 // the record the previous checkpoint ends at; 0: none
	if prev.Note != "" {
		signed, err := openCheckpoint(prev.Note, t.verifiers)
		if err != nil || signed.Size != prev.Size {
			return &Problem{Seq: prev.Size, Kind: BadSignature, Detail: checkpointDetail(prev, err)}, nil
		}
		anchor = signed.Size
		w = walker{next: anchor + 1, prev: signed.Hash}
	}
	anchored := anchor == 0
	for r, err := range t.store.Records(ctx, Filter{}, max(anchor, 1)) {
		if err != nil {
			return nil, err
		}
		if r.Seq > head.Seq {
			break
		}
		if !anchored {
			anchored = true
			switch {
			case r.Seq != anchor:
				return &Problem{Seq: anchor, Kind: RecordMissing, Detail: fmt.Sprintf("record %d, the last one checkpoint %d covers, is missing", anchor, prev.ID)}, nil
			case r.Hash != w.prev:
				return &Problem{Seq: anchor, Kind: TailTruncated, Detail: fmt.Sprintf("record %d no longer has the hash checkpoint %d signed", anchor, prev.ID)}, nil
			case r.ComputeHash() != r.Hash:
				return &Problem{Seq: anchor, Kind: ContentChanged, Detail: "its fields no longer hash to its stored hash " + r.Hash.String()}, nil
			}
			w.prevTime = r.Time
			continue
		}
		if p := w.step(&r); p != nil {
			return p, nil
		}
	}
	switch {
	case !anchored:
		return &Problem{Seq: anchor, Kind: TailTruncated, Detail: fmt.Sprintf("checkpoint %d covers %d records but the trail ends before", prev.ID, anchor)}, nil
	case w.next <= head.Seq:
		return &Problem{Seq: w.next, Kind: TailTruncated, Detail: fmt.Sprintf("the trail should reach record %d but ends at %d", head.Seq, w.next-1)}, nil
	case w.prev != head.Hash:
		return &Problem{Seq: head.Seq, Kind: ContentChanged, Detail: "the record no longer has the hash it was appended with"}, nil
	}
	return nil, nil
}

func (t *Trail) setStatus(size int64, p *Problem) {
	t.statusMu.Lock()
	defer t.statusMu.Unlock()
	if t.status.Problem != nil {
		return // a break stays on the banner until someone investigates and restarts
	}
	t.status = Status{Checked: true, Intact: p == nil, Size: size, At: t.now().UTC(), Problem: p}
}
