-- The revocation feed also carries key events: `kind = 'keys'`, `value` a
-- fingerprint of the published kid set (UNIQUE makes a second instance's
-- record of the same change a no-op). SQLite cannot alter a CHECK, so the
-- table is rebuilt, keeping every row and the AUTOINCREMENT high-water mark
-- (feed cursors never go back).
CREATE TABLE revocations_new (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('sid', 'jti', 'keys')),
    value       TEXT NOT NULL,
    exp         INTEGER NOT NULL,
    UNIQUE (kind, value)
);
INSERT INTO revocations_new (seq, kind, value, exp)
    SELECT seq, kind, value, exp FROM revocations;
DELETE FROM sqlite_sequence WHERE name = 'revocations_new';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'revocations_new', seq FROM sqlite_sequence WHERE name = 'revocations';
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
CREATE INDEX revocations_exp ON revocations(exp);
