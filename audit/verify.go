package audit

import (
	"context"
	"fmt"
	"iter"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Kind names what is wrong with a trail.
type Kind string

const (
	ContentChanged Kind = "content changed" // a record's fields no longer hash to its Hash
	RecordMissing  Kind = "record missing"  // a gap in Seq
	OrderChanged   Kind = "order changed"   // PrevHash does not link to the record before
	TailTruncated  Kind = "tail truncated"  // a checkpoint covers records that are gone or different
	BadSignature   Kind = "checkpoint signature invalid"
)

// Problem is the first thing found wrong, at sequence number Seq.
type Problem struct {
	Seq    int64
	Kind   Kind
	Detail string
}

func (p *Problem) String() string {
	return fmt.Sprintf("record %d: %s: %s", p.Seq, p.Kind, p.Detail)
}

// VerifyReport is the result of Verify. Problem is nil when the trail is intact.
type VerifyReport struct {
	Records     int64 // records checked
	Checkpoints int64 // checkpoints checked
	Signed      int64 // records covered by the largest valid checkpoint
	Problem     *Problem
}

// Intact reports whether nothing was found wrong.
func (r VerifyReport) Intact() bool { return r.Problem == nil }

func (r VerifyReport) String() string {
	if r.Problem != nil {
		return "broken at " + r.Problem.String()
	}
	s := fmt.Sprintf("%d records, %d checkpoints, intact", r.Records, r.Checkpoints)
	if r.Signed < r.Records {
		s += fmt.Sprintf(" (records after %d are chained but not yet covered by a checkpoint)", r.Signed)
	}
	return s
}

// Verify walks every record and every checkpoint once, in Seq order, in constant memory, and
// reports the first problem. Checkpoints must verify with one of verifierKeys (more than one
// after a key rotation). The error is for failures to read; a broken trail is a report.
func Verify(ctx context.Context, st Store, verifierKeys ...string) (VerifyReport, error) {
	v, err := parseVerifiers(verifierKeys)
	if err != nil {
		return VerifyReport{}, err
	}
	nextCheckpoint, stop := iter.Pull2(st.Checkpoints(ctx))
	defer stop()
	var rep VerifyReport
	cp, err, more := nextCheckpoint()

	// settle checks every checkpoint whose stored size is at most seq against the record
	// there. It runs for seq 0 and for every record, so no size is skipped.
	settle := func(seq int64, hash Hash) (*Problem, error) {
		for ; more; cp, err, more = nextCheckpoint() {
			if err != nil {
				return nil, err
			}
			if cp.Size > seq {
				return nil, nil
			}
			signed, p := openStored(cp, v)
			if p != nil {
				return p, nil
			}
			if signed.Hash != hash {
				return &Problem{Seq: seq, Kind: TailTruncated, Detail: fmt.Sprintf(
					"checkpoint %d signed at %s says record %d hashed to %s; it now hashes to %s: records up to it were removed and replaced",
					cp.ID, formatTime(signed.Time), seq, signed.Hash, hash)}, nil
			}
			rep.Checkpoints++
			rep.Signed = seq
		}
		return nil, err
	}

	if p, err := settle(0, Hash{}); p != nil || err != nil {
		rep.Problem = p
		return rep, err
	}
	w := walker{next: 1}
	for r, err := range st.Records(ctx, Filter{}, 1) {
		if err != nil {
			return rep, fmt.Errorf("audit verify: %w", err)
		}
		if p := w.step(&r); p != nil {
			rep.Problem = p
			return rep, nil
		}
		rep.Records++
		if p, err := settle(r.Seq, r.Hash); p != nil || err != nil {
			rep.Problem = p
			return rep, err
		}
	}
	if more {
		if err != nil {
			return rep, err
		}
		if _, p := openStored(cp, v); p != nil {
			rep.Problem = p
			return rep, nil
		}
		rep.Problem = &Problem{Seq: w.next, Kind: TailTruncated, Detail: fmt.Sprintf(
			"checkpoint %d covers %d records but the trail ends at record %d", cp.ID, cp.Size, w.next-1)}
	}
	return rep, nil
}

// VerifyCheckpoint checks a checkpoint kept outside the database (a log line in a SIEM, a
// note an auditor saved) against the trail: the record at its size must exist and have its
// hash. This catches what Verify alone cannot: the last records deleted together with the
// checkpoints stored beside them. It returns nil when the trail holds what the note says.
func VerifyCheckpoint(ctx context.Context, st Store, signed string, verifierKeys ...string) (*Problem, error) {
	vs, err := parseVerifiers(verifierKeys)
	if err != nil {
		return nil, err
	}
	c, err := openCheckpoint(signed, vs)
	if err != nil {
		return &Problem{Seq: c.Size, Kind: BadSignature, Detail: "the checkpoint does not verify with the key: " + err.Error()}, nil
	}
	if c.Size == 0 {
		return nil, nil // an empty trail: everything after it is new
	}
	for r, err := range st.Records(ctx, Filter{}, c.Size) {
		if err != nil {
			return nil, err
		}
		if r.Seq != c.Size {
			break
		}
		if r.Hash != c.Hash {
			return &Problem{Seq: c.Size, Kind: TailTruncated, Detail: fmt.Sprintf(
				"the checkpoint signed at %s says record %d hashed to %s; it now hashes to %s", formatTime(c.Time), c.Size, c.Hash, r.Hash)}, nil
		}
		return nil, nil
	}
	return &Problem{Seq: c.Size, Kind: TailTruncated, Detail: fmt.Sprintf(
		"the checkpoint signed at %s covers %d records; record %d is gone", formatTime(c.Time), c.Size, c.Size)}, nil
}

// openStored checks a stored checkpoint's signature and that the row's size column (used to
// order checkpoints) says what the signed text says.
func openStored(cp Checkpoint, v note.Verifiers) (Checkpoint, *Problem) {
	signed, err := openCheckpoint(cp.Note, v)
	if err == nil && signed.Size != cp.Size {
		err = fmt.Errorf("its row says size %d but the signed text says %d", cp.Size, signed.Size)
	}
	if err != nil {
		return signed, &Problem{Seq: cp.Size, Kind: BadSignature, Detail: checkpointDetail(cp, err)}
	}
	return signed, nil
}

func checkpointDetail(cp Checkpoint, err error) string {
	return fmt.Sprintf("checkpoint %d does not verify with the key: %v", cp.ID, err)
}

// walker checks that each record follows the one before.
type walker struct {
	next     int64 // the Seq expected next
	prev     Hash  // the Hash the next record must link to
	prevTime time.Time
}

func (w *walker) step(r *Record) *Problem {
	switch {
	case r.Seq > w.next:
		d := fmt.Sprintf("record %d is missing (the next present is %d)", w.next, r.Seq)
		if r.Seq > w.next+1 {
			d = fmt.Sprintf("records %d to %d are missing", w.next, r.Seq-1)
		}
		return &Problem{Seq: w.next, Kind: RecordMissing, Detail: d}
	case r.Seq < w.next:
		return &Problem{Seq: r.Seq, Kind: OrderChanged, Detail: fmt.Sprintf("record %d appears after record %d", r.Seq, w.next-1)}
	case r.PrevHash != w.prev:
		return &Problem{Seq: r.Seq, Kind: OrderChanged, Detail: fmt.Sprintf(
			"its prev hash %s is not the hash of record %d (%s): records were moved, or the one before was rewritten",
			r.PrevHash, r.Seq-1, w.prev)}
	case r.ComputeHash() != r.Hash:
		return &Problem{Seq: r.Seq, Kind: ContentChanged, Detail: "its fields no longer hash to its stored hash " + r.Hash.String()}
	case r.Time.Before(w.prevTime):
		return &Problem{Seq: r.Seq, Kind: OrderChanged, Detail: fmt.Sprintf("its time %s is before record %d's", formatTime(r.Time), r.Seq-1)}
	}
	w.next, w.prev, w.prevTime = r.Seq+1, r.Hash, r.Time
	return nil
}
