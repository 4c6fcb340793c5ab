-- Failed-login budgets (auth::throttle), shared by every process using the
-- database. One row per account (SHA-256 of the folded username) and client
-- address, plus one per account with source '*' counting attempts from
-- addresses not known to it. Attempts are reserved before the password hash
-- is checked and counted in fixed windows starting at `window_start`;
-- `succeeded_at` marks an address that logged in to the account.
CREATE TABLE login_attempts (
    account      BLOB NOT NULL,
    source       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    succeeded_at INTEGER,
    PRIMARY KEY (account, source)
);
CREATE INDEX login_attempts_window ON login_attempts(window_start);
