-- Device certificates (issue 16): every certificate the issuing CA issued through EST, and
-- any other certificate of a device that was revoked by serial (by an operator, or superseded
-- by a rotation). The revoked serials of a device that are still within their validity are
-- also listed on its row (`devices.revoked_serials`: `serial@from_ms`, comma-separated), so the
-- check on every device request reads only the cached device row.
CREATE TABLE device_certificates (
    -- Serials are unique per issuer only (several factory CAs may count from 1): a device's
    -- serial is the key.
    serial TEXT NOT NULL,
    device_id TEXT NOT NULL,
    fingerprint TEXT,
    not_before_ms BIGINT,
    not_after_ms BIGINT,
    -- NULL: not issued by this server's CA (not in its CRL).
    issued_ms BIGINT,
    -- From when the certificate is refused (a rotation revokes the old one a grace window
    -- after the new one was first used, so this may lie ahead).
    revoked_ms BIGINT,
    revoked_reason TEXT,
    -- Re-enrolment: the certificate this one replaces, and when this one was first used.
    replaces_serial TEXT,
    first_used_ms BIGINT,
    PRIMARY KEY (device_id, serial)
);
ALTER TABLE devices ADD COLUMN revoked_serials TEXT NOT NULL DEFAULT '';
-- The newest certificate the device has used (a request with another one looks it up).
ALTER TABLE devices ADD COLUMN current_serial TEXT;
-- A command for the device's next check-in (`factory_reset`: decommissioning that reaches the
-- device; its credentials are revoked right after the answer).
ALTER TABLE devices ADD COLUMN pending_command TEXT;
-- One-time enrolment tokens (EST simpleenroll without a factory certificate): stored as a
-- SHA-256 hash, bound to a device id and class, used once, expiring.
CREATE TABLE enrollment_tokens (
    token_hash TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    class TEXT,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT,
    created_by TEXT NOT NULL
);
