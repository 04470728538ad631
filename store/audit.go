package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"iter"
	"strconv"
	"strings"

	"github.com/depportal/depportal/audit"
)

var _ audit.Store = (*DB)(nil)

// auditAppendLock is the pg_advisory_xact_lock key that makes appends from every portal
// instance take turns (the migration lock is 7267372).
const auditAppendLock = 7267373

// auditBatch is how many rows one query of a scan reads: memory stays flat and no read
// transaction stays open for the length of a million-record verify.
const auditBatch = 2000

const auditColumns = `seq, at, type, outcome, actor_tid, actor_oid, actor_name, actor_upn,
	client_ip, user_agent, request_id, setting_id, setting_name, apple_id, token_sha256,
	token_recipient, verdicts, graph_status, graph_code, graph_request_id,
	graph_client_request_id, graph_activity_id, duration_ms, intent_seq, reason, route,
	prev_hash, hash`

var insertAuditRecord = `INSERT INTO audit_records (` + auditColumns + `) VALUES (` + placeholders(28) + `)`

func placeholders(n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = "$" + strconv.Itoa(i+1)
	}
	return strings.Join(p, ", ")
}

// AppendRecord reads the head and inserts the next record in one write transaction. SQLite
// begins it IMMEDIATE (store.Open sets _txlock), which takes the database's single write lock
// before the read; PostgreSQL takes a transaction-scoped advisory lock that every instance
// shares. Either way no two appenders can read the same head.
func (db *DB) AppendRecord(ctx context.Context, build func(audit.Head) (audit.Record, error)) (audit.Record, error) {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return audit.Record{}, err
	}
	defer tx.Rollback()
	if db.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, auditAppendLock); err != nil {
			return audit.Record{}, err
		}
	}
	head, err := auditHead(ctx, tx)
	if err != nil {
		return audit.Record{}, err
	}
	rec, err := build(head)
	if err != nil {
		return audit.Record{}, err
	}
	args, err := auditArgs(&rec)
	if err != nil {
		return audit.Record{}, err
	}
	if _, err := tx.ExecContext(ctx, insertAuditRecord, args...); err != nil {
		return audit.Record{}, err
	}
	// Durable when Commit returns: synchronous=FULL on SQLite, a committed transaction on
	// PostgreSQL.
	if err := tx.Commit(); err != nil {
		return audit.Record{}, err
	}
	return rec, nil
}

// auditArgs are the insert's arguments in auditColumns order.
func auditArgs(r *audit.Record) ([]any, error) {
	verdicts := []byte("[]")
	if len(r.Verdicts) > 0 {
		var err error
		if verdicts, err = json.Marshal(r.Verdicts); err != nil {
			return nil, err
		}
	}
	return []any{
		r.Seq, micros(r.Time), string(r.Type), string(r.Outcome),
		r.Actor.TenantID, r.Actor.ObjectID, r.Actor.Name, r.Actor.UPN,
		r.Client.IP, r.Client.UserAgent, r.RequestID, r.Setting.ID, r.Setting.Name,
		r.AppleID, r.Token.SHA256, r.Token.Recipient, string(verdicts),
		int64(r.Graph.Status), r.Graph.Code, r.Graph.RequestID, r.Graph.ClientRequestID, r.Graph.ActivityID,
		r.DurationMS, r.IntentSeq, r.Reason, r.Route, r.PrevHash[:], r.Hash[:],
	}, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func auditHead(ctx context.Context, q querier) (audit.Head, error) {
	var h audit.Head
	var at int64
	var hash []byte
	err := q.QueryRowContext(ctx, `SELECT seq, at, hash FROM audit_records ORDER BY seq DESC LIMIT 1`).Scan(&h.Seq, &at, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return audit.Head{}, nil
	}
	if err != nil {
		return h, err
	}
	h.Time = fromMicros(at)
	copy(h.Hash[:], hash)
	return h, nil
}

// Head returns the last record's seq, time and hash.
func (db *DB) Head(ctx context.Context) (audit.Head, error) { return auditHead(ctx, db.sql) }

// Records yields matching records from seq from upwards, a batch per query.
func (db *DB) Records(ctx context.Context, f audit.Filter, from int64) iter.Seq2[audit.Record, error] {
	return func(yield func(audit.Record, error) bool) {
		lo, hi, err := db.seqBounds(ctx, f)
		if err != nil {
			yield(audit.Record{}, err)
			return
		}
		lo = max(lo, from)
		for hi == 0 || lo < hi {
			where, args := auditWhere(f, lo, hi, 0)
			rows, err := db.sql.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_records WHERE `+where+
				` ORDER BY seq LIMIT `+strconv.Itoa(auditBatch), args...)
			if err != nil {
				yield(audit.Record{}, err)
				return
			}
			n, stopped, err := scanAuditRows(rows, func(r *audit.Record) bool {
				lo = r.Seq + 1
				return yield(*r, nil)
			})
			if stopped {
				return
			}
			if err != nil {
				yield(audit.Record{}, err)
				return
			}
			if n < auditBatch {
				return
			}
		}
	}
}

// NewestRecords returns one page for the UI, newest first.
func (db *DB) NewestRecords(ctx context.Context, f audit.Filter, limit int, before int64) ([]audit.Record, error) {
	lo, hi, err := db.seqBounds(ctx, f)
	if err != nil {
		return nil, err
	}
	if hi != 0 && lo >= hi {
		return nil, nil
	}
	where, args := auditWhere(f, lo, hi, before)
	rows, err := db.sql.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_records WHERE `+where+
		` ORDER BY seq DESC LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, err
	}
	var out []audit.Record
	_, _, err = scanAuditRows(rows, func(r *audit.Record) bool {
		out = append(out, *r)
		return true
	})
	return out, err
}

// seqBounds turns the filter's time range into the seq range lo <= seq < hi (hi 0: open).
// Append never lets time run backwards along seq, so the first record at or after a time is
// one index lookup, and the main query then walks seq instead of sorting a time range.
func (db *DB) seqBounds(ctx context.Context, f audit.Filter) (lo, hi int64, err error) {
	first := func(t int64) (int64, bool, error) {
		var seq int64
		err := db.sql.QueryRowContext(ctx, `SELECT seq FROM audit_records WHERE at >= $1 ORDER BY at, seq LIMIT 1`, t).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return seq, err == nil, err
	}
	lo = 1
	if !f.From.IsZero() {
		seq, ok, err := first(micros(f.From))
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return 1, 1, nil // nothing that late: an empty range
		}
		lo = seq
	}
	if !f.To.IsZero() {
		seq, ok, err := first(micros(f.To))
		if err != nil {
			return 0, 0, err
		}
		if ok {
			hi = seq
		}
	}
	return lo, hi, nil
}

// auditWhere builds the WHERE clause. The time columns are tested as well as the seq bounds:
// the bounds make the query fast, the time test keeps it exact.
func auditWhere(f audit.Filter, lo, hi, before int64) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	add("seq >= ?", lo)
	if hi > 0 {
		add("seq < ?", hi)
	}
	if before > 0 {
		add("seq < ?", before)
	}
	if !f.From.IsZero() {
		add("at >= ?", micros(f.From))
	}
	if !f.To.IsZero() {
		add("at < ?", micros(f.To))
	}
	if f.ActorOID != "" {
		add("actor_oid = ?", f.ActorOID)
	}
	if f.ActorName != "" {
		pattern := "%" + likeEscaper.Replace(strings.ToLower(f.ActorName)) + "%"
		add(`(LOWER(actor_name) LIKE ? ESCAPE '\'`, pattern)
		add(`LOWER(actor_upn) LIKE ? ESCAPE '\')`, pattern)
		conds[len(conds)-2] += " OR " + conds[len(conds)-1]
		conds = conds[:len(conds)-1]
	}
	if f.SettingID != "" {
		add("setting_id = ?", f.SettingID)
	}
	if f.Type != "" {
		add("type = ?", string(f.Type))
	}
	if f.Outcome != "" {
		add("outcome = ?", string(f.Outcome))
	}
	return strings.Join(conds, " AND "), args
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// scanAuditRows reads rows into one reused Record and hands each to fn until fn returns false
// (stopped). It always closes rows.
func scanAuditRows(rows *sql.Rows, fn func(*audit.Record) bool) (n int, stopped bool, err error) {
	defer rows.Close()
	var (
		r            audit.Record
		at, status   int64
		verdicts     string
		prev, hash   sql.RawBytes
		typ, outcome string
		noVerdicts   = "[]"
		dest         = []any{&r.Seq, &at, &typ, &outcome, &r.Actor.TenantID, &r.Actor.ObjectID, &r.Actor.Name, &r.Actor.UPN, &r.Client.IP, &r.Client.UserAgent, &r.RequestID, &r.Setting.ID, &r.Setting.Name, &r.AppleID, &r.Token.SHA256, &r.Token.Recipient, &verdicts, &status, &r.Graph.Code, &r.Graph.RequestID, &r.Graph.ClientRequestID, &r.Graph.ActivityID, &r.DurationMS, &r.IntentSeq, &r.Reason, &r.Route, &prev, &hash}
	)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return n, false, err
		}
		r.Time = fromMicros(at)
		r.Type, r.Outcome, r.Graph.Status = audit.EventType(typ), audit.Outcome(outcome), int(status)
		r.Verdicts = nil
		if verdicts != noVerdicts && verdicts != "" {
			// A row whose JSON no longer parses has been edited: leave the verdicts empty and
			// let the hash mismatch say so, rather than stop a verify or an export.
			if json.Unmarshal([]byte(verdicts), &r.Verdicts) != nil {
				r.Verdicts = nil
			}
		}
		r.PrevHash, r.Hash = audit.Hash{}, audit.Hash{}
		copy(r.PrevHash[:], prev)
		copy(r.Hash[:], hash)
		n++
		if !fn(&r) {
			return n, true, nil
		}
	}
	return n, false, rows.Err()
}

// AddCheckpoint stores a signed checkpoint.
func (db *DB) AddCheckpoint(ctx context.Context, c audit.Checkpoint) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO audit_checkpoints (size, at, note) VALUES ($1, $2, $3)`,
		c.Size, micros(c.Time), c.Note)
	return err
}

// LastCheckpoint returns the checkpoint covering the most records.
func (db *DB) LastCheckpoint(ctx context.Context) (audit.Checkpoint, error) {
	var c audit.Checkpoint
	var at int64
	err := db.sql.QueryRowContext(ctx, `SELECT id, size, at, note FROM audit_checkpoints ORDER BY size DESC, id DESC LIMIT 1`).
		Scan(&c.ID, &c.Size, &at, &c.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return c, audit.ErrNoCheckpoint
	}
	c.Time = fromMicros(at)
	return c, err
}

// Checkpoints yields every checkpoint by size, then id, a batch per query.
func (db *DB) Checkpoints(ctx context.Context) iter.Seq2[audit.Checkpoint, error] {
	return func(yield func(audit.Checkpoint, error) bool) {
		size, id := int64(-1<<62), int64(0)
		for {
			rows, err := db.sql.QueryContext(ctx, `SELECT id, size, at, note FROM audit_checkpoints
				WHERE (size, id) > ($1, $2) ORDER BY size, id LIMIT `+strconv.Itoa(auditBatch), size, id)
			if err != nil {
				yield(audit.Checkpoint{}, err)
				return
			}
			n := 0
			for rows.Next() {
				var c audit.Checkpoint
				var at int64
				if err := rows.Scan(&c.ID, &c.Size, &at, &c.Note); err != nil {
					rows.Close()
					yield(audit.Checkpoint{}, err)
					return
				}
				c.Time = fromMicros(at)
				size, id, n = c.Size, c.ID, n+1
				if !yield(c, nil) {
					rows.Close()
					return
				}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				yield(audit.Checkpoint{}, err)
				return
			}
			if n < auditBatch {
				return
			}
		}
	}
}
