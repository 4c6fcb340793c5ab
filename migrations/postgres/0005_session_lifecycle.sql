-- Session lifecycle; the same columns as migrations/sqlite/0005.
ALTER TABLE sessions ADD COLUMN last_used_at BIGINT NOT NULL DEFAULT 0;
UPDATE sessions SET last_used_at = GREATEST(created_at, rotated_ms / 1000);
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN credential_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN credential_generation BIGINT NOT NULL DEFAULT 0;
