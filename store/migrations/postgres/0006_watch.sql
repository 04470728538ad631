-- The watch (docs/decisions/0011): one row of shared state (the lease that makes one instance
-- the poller, when it reads Intune next, how the last read went) and the connectors it read.
CREATE TABLE watch_state (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    next_poll_at BIGINT NOT NULL,
    last_attempt_at BIGINT NOT NULL,
    last_success_at BIGINT NOT NULL,
    failures INTEGER NOT NULL,
    last_error TEXT NOT NULL
);
INSERT INTO watch_state VALUES ('watch', '', 0, 0, 0, 0, 0, '');
CREATE TABLE watch_connectors (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    detail TEXT NOT NULL,
    read_at BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);
