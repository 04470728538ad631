-- Sign-in transactions live only between the redirect to the provider and the callback.
CREATE TABLE login_transactions (
    state_hash   TEXT PRIMARY KEY,
    binding_hash TEXT NOT NULL,
    sealed       BLOB NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX login_transactions_expires ON login_transactions (expires_at);

-- A session is keyed by the SHA-256 of its cookie value: a copy of this table signs nobody in.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    subject      TEXT NOT NULL,
    name         TEXT NOT NULL,
    username     TEXT NOT NULL,
    roles        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    tokens       BLOB NOT NULL
);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);
