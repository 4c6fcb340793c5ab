-- The latest `exp` of an access token each session issued, so a `sid`
-- revocation lasts exactly as long as it can matter (NULL: not recorded,
-- the session's end is used).
ALTER TABLE sessions ADD COLUMN access_exp INTEGER;

-- Access tokens issued to confidential clients (client_credentials), so
-- removing a client can revoke them by `jti`. Rows go when their `exp`
-- passes. The deferred foreign key makes an issuance that races a removal
-- fail instead of leaving an unrevoked token.
CREATE TABLE client_tokens (
    jti        TEXT PRIMARY KEY,
    client_id  TEXT NOT NULL REFERENCES clients(id) DEFERRABLE INITIALLY DEFERRED,
    exp        INTEGER NOT NULL
);
CREATE INDEX client_tokens_client ON client_tokens(client_id);
CREATE INDEX client_tokens_exp ON client_tokens(exp);
