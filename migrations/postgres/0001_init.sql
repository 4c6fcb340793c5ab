-- Users, sessions, refresh tokens, revocations and clients; the same tables
-- as migrations/sqlite. Times are Unix seconds (rotated_ms: milliseconds).
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scope         TEXT NOT NULL DEFAULT '',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL
);

CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           BYTEA NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    generation      BIGINT NOT NULL DEFAULT 0,
    rotated_ms      BIGINT NOT NULL DEFAULT 0,
    revoked_at      BIGINT,
    revoked_reason  TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    generation  BIGINT NOT NULL,
    issued_at   BIGINT NOT NULL
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE revocations (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('sid', 'jti')),
    value       TEXT NOT NULL,
    exp         BIGINT NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX revocations_exp ON revocations(exp);

CREATE TABLE clients (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  BYTEA NOT NULL,
    scope        TEXT NOT NULL DEFAULT '',
    audience     TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
