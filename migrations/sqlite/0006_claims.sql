-- Recent authentication: when the user of a session last proved a
-- credential (login or reauthentication); refreshing keeps it. Sessions
-- that exist already were authenticated when they started.
ALTER TABLE sessions ADD COLUMN auth_time INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET auth_time = created_at;

-- Custom claims (a JSON object) put into every token of a user or client.
ALTER TABLE users ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN claims TEXT NOT NULL DEFAULT '{}';
