-- A pending upload becomes the record of its renewal: who reviewed it, the token as it was at
-- review time (to compare a read-back with), and the result the person can reload.
-- outcome: '' not sent, 'sending', 'succeeded', 'failed', 'unknown'.
ALTER TABLE pending_uploads ADD COLUMN owner_tenant TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_uploads ADD COLUMN owner_oid TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_uploads ADD COLUMN owner_name TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_uploads ADD COLUMN setting TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_uploads ADD COLUMN intent_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pending_uploads ADD COLUMN finished_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE pending_uploads ADD COLUMN result TEXT NOT NULL DEFAULT '';
CREATE INDEX pending_uploads_intent ON pending_uploads (intent_seq);
