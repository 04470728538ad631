-- The watch's reminders (docs/decisions/0011): one row per channel per threshold per expiry
-- date of a connector, made once whatever the restarts and instances (the unique key), then
-- tried until delivered or given up. A renewal gives the connector a new expiry date, and so
-- fresh thresholds.
CREATE TABLE reminders (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    connector_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    channel TEXT NOT NULL,
    connector TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    sent_at INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    UNIQUE (kind, connector_id, expires_at, reason, channel)
);
CREATE INDEX reminders_due ON reminders (state, next_attempt_at);
