-- The audit trail (docs/audit-format.md). One row per record, chained by hash; rows are only
-- ever inserted. Times are Unix microseconds UTC; text is never NULL, absent values are ''.
-- seq is the rowid: ordered scans and keyset paging walk the table itself.
CREATE TABLE audit_records (
    seq                     INTEGER PRIMARY KEY,
    at                      INTEGER NOT NULL,
    type                    TEXT NOT NULL,
    outcome                 TEXT NOT NULL,
    actor_tid               TEXT NOT NULL,
    actor_oid               TEXT NOT NULL,
    actor_name              TEXT NOT NULL,
    actor_upn               TEXT NOT NULL,
    client_ip               TEXT NOT NULL,
    user_agent              TEXT NOT NULL,
    request_id              TEXT NOT NULL,
    setting_id              TEXT NOT NULL,
    setting_name            TEXT NOT NULL,
    apple_id                TEXT NOT NULL,
    token_sha256            TEXT NOT NULL,
    token_recipient         TEXT NOT NULL,
    verdicts                TEXT NOT NULL, -- JSON array of {check, result, message}
    graph_status            INTEGER NOT NULL,
    graph_code              TEXT NOT NULL,
    graph_request_id        TEXT NOT NULL,
    graph_client_request_id TEXT NOT NULL,
    graph_activity_id       TEXT NOT NULL,
    duration_ms             INTEGER NOT NULL,
    intent_seq              INTEGER NOT NULL,
    reason                  TEXT NOT NULL,
    route                   TEXT NOT NULL,
    prev_hash               BLOB NOT NULL,
    hash                    BLOB NOT NULL
);
-- The UI lists newest first (ORDER BY seq DESC) under one equality filter; (column, seq)
-- serves that without a sort. Time never decreases along seq, so a time range becomes a seq
-- range through audit_records_at.
CREATE INDEX audit_records_at ON audit_records (at, seq);
CREATE INDEX audit_records_actor ON audit_records (actor_oid, seq);
CREATE INDEX audit_records_setting ON audit_records (setting_id, seq);
CREATE INDEX audit_records_type ON audit_records (type, seq);
CREATE INDEX audit_records_outcome ON audit_records (outcome, seq);

-- Signed checkpoints of the chain head. note is the signed text and the only part trusted;
-- size and at copy it for ordering.
CREATE TABLE audit_checkpoints (
    id   INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    at   INTEGER NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX audit_checkpoints_size ON audit_checkpoints (size, id);

-- Append-only against mistakes (a stray UPDATE in a console). Someone who drops these can
-- change rows, which is what the hash chain and the checkpoints detect.
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;
