CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    class TEXT,
    state TEXT NOT NULL DEFAULT 'active',
    registered_ms BIGINT NOT NULL,
    last_seen_ms BIGINT NOT NULL,
    running_digest TEXT,
    running_version TEXT,
    running_sequence BIGINT,
    last_status TEXT
);
CREATE TABLE release_classes (
    class_id TEXT PRIMARY KEY,
    max_sequence BIGINT NOT NULL
);
CREATE TABLE releases (
    id BIGSERIAL PRIMARY KEY,
    class_name TEXT NOT NULL,
    class_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    version TEXT NOT NULL,
    envelope_digest TEXT NOT NULL,
    envelope_size BIGINT NOT NULL,
    image_digest TEXT NOT NULL,
    image_size BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    UNIQUE (class_id, sequence)
);
CREATE INDEX releases_by_class ON releases (class_name, sequence);
CREATE INDEX releases_by_image ON releases (image_digest);
CREATE INDEX releases_by_envelope ON releases (envelope_digest);
CREATE TABLE release_patches (
    release_id BIGINT NOT NULL REFERENCES releases (id),
    position BIGINT NOT NULL,
    format BIGINT NOT NULL,
    base_digest TEXT NOT NULL,
    base_size BIGINT NOT NULL,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    PRIMARY KEY (release_id, position)
);
CREATE INDEX release_patches_by_digest ON release_patches (digest);
CREATE TABLE device_events (
    id BIGSERIAL PRIMARY KEY,
    device_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    release_id BIGINT,
    reason TEXT
);
CREATE INDEX device_events_by_device ON device_events (device_id, id);
CREATE TABLE admin_tokens (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL
);
