-- The revocation feed also carries key events: `kind = 'keys'`, `value` a
-- fingerprint of the published kid set (UNIQUE makes a second instance's
-- record of the same change a no-op).
ALTER TABLE revocations DROP CONSTRAINT revocations_kind_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_kind_check
    CHECK (kind IN ('sid', 'jti', 'keys'));
