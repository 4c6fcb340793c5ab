-- Session lifecycle: the idle limit (last refresh), what the user may see of
-- each session (a trimmed user agent, a truncated address), and the
-- credential generation a session was issued under: changing the password
-- bumps the user's generation, and sessions of an older one are refused.
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_used_at = MAX(created_at, rotated_ms / 1000);
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN credential_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN credential_generation INTEGER NOT NULL DEFAULT 0;
