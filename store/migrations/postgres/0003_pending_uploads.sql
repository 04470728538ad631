-- Reviewed uploads waiting for confirmation. The file is sealed and emptied once consumed; the
-- row stays a day so a second upload of the same file can be noticed.
CREATE TABLE pending_uploads (
    id           TEXT PRIMARY KEY,
    session_hash TEXT NOT NULL,
    setting_id   TEXT NOT NULL,
    setting_name TEXT NOT NULL,
    apple_id     TEXT NOT NULL,
    file_name    TEXT NOT NULL,
    file_sha256  TEXT NOT NULL,
    sealed       BYTEA NOT NULL,
    checks       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    consumed_at  BIGINT NOT NULL DEFAULT 0,
    outcome      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX pending_uploads_recent ON pending_uploads (setting_id, file_sha256, outcome, consumed_at);
CREATE INDEX pending_uploads_created ON pending_uploads (created_at);
