-- Email verification, single-use account tokens (password reset, email
-- verification) and the webhook outbox.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;

-- Tokens are stored only as SHA-256 hashes; using one deletes it.
CREATE TABLE account_tokens (
    token_hash  BLOB PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('reset', 'verify')),
    expires_at  INTEGER NOT NULL
);
CREATE INDEX account_tokens_user ON account_tokens(user_id);
CREATE INDEX account_tokens_expiry ON account_tokens(expires_at);

-- Events written in the same transaction as the change they report and
-- deleted once delivered. `next_attempt_ms` doubles as the lease of a
-- delivery in progress; `seq` orders each user's events.
CREATE TABLE webhook_outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    user_id          TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    last_error       TEXT
);
CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_ms);
CREATE INDEX webhook_outbox_user ON webhook_outbox(user_id, seq);
