-- The provider's session ID (the ID token's sid) and login_hint of each session: front-channel
-- logout ends every session of a sid, and sign-out names the account with logout_hint.
ALTER TABLE sessions ADD COLUMN provider_sid TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN login_hint TEXT NOT NULL DEFAULT '';
CREATE INDEX sessions_provider_sid ON sessions (provider_sid);
