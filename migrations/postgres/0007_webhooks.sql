-- Email verification, single-use account tokens and the webhook outbox; the
-- same tables as migrations/sqlite/0007_webhooks.sql.
ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE account_tokens (
    token_hash  BYTEA PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('reset', 'verify')),
    expires_at  BIGINT NOT NULL
);
CREATE INDEX account_tokens_user ON account_tokens(user_id);
CREATE INDEX account_tokens_expiry ON account_tokens(expires_at);

CREATE TABLE webhook_outbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    user_id          TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL,
    last_error       TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_ms);
CREATE INDEX webhook_outbox_user ON webhook_outbox(user_id, seq);
