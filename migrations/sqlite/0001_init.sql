-- Users, sessions and their refresh-token families. Times are Unix seconds.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scope         TEXT NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

-- One row per login. `generation` counts rotations: the live refresh token
-- is the one of the current generation; `rotated_ms` (milliseconds) bounds
-- the grace window of the previous one.
CREATE TABLE sessions (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,
    scope           TEXT NOT NULL,
    nonce           BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    generation      INTEGER NOT NULL DEFAULT 0,
    rotated_ms      INTEGER NOT NULL DEFAULT 0,
    revoked_at      INTEGER,
    revoked_reason  TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Refresh tokens are stored only as SHA-256 hashes.
CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    generation  INTEGER NOT NULL,
    issued_at   INTEGER NOT NULL
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

-- Revoked sessions (`sid`) and access tokens (`jti`), each kept until the
-- latest `exp` it can affect. `seq` is the cursor of the revocation feed.
CREATE TABLE revocations (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('sid', 'jti')),
    value       TEXT NOT NULL,
    exp         INTEGER NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX revocations_exp ON revocations(exp);

-- Confidential clients (client_credentials). The secret is 256 random bits,
-- stored only as its SHA-256.
CREATE TABLE clients (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    scope        TEXT NOT NULL DEFAULT '',
    audience     TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);
