CREATE TABLE devices (
    id TEXT PRIMARY KEY NOT NULL,
    class TEXT,
    state TEXT NOT NULL DEFAULT 'active',
    registered_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    running_digest TEXT,
    running_version TEXT,
    running_sequence INTEGER,
    last_status TEXT
);
CREATE TABLE release_classes (
    class_id TEXT PRIMARY KEY NOT NULL,
    max_sequence INTEGER NOT NULL
);
CREATE TABLE releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    class_name TEXT NOT NULL,
    class_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    version TEXT NOT NULL,
    envelope_digest TEXT NOT NULL,
    envelope_size INTEGER NOT NULL,
    image_digest TEXT NOT NULL,
    image_size INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    uploaded_by TEXT NOT NULL,
    UNIQUE (class_id, sequence)
);
CREATE INDEX releases_by_class ON releases (class_name, sequence);
CREATE INDEX releases_by_image ON releases (image_digest);
CREATE INDEX releases_by_envelope ON releases (envelope_digest);
CREATE TABLE release_patches (
    release_id INTEGER NOT NULL REFERENCES releases (id),
    position INTEGER NOT NULL,
    format INTEGER NOT NULL,
    base_digest TEXT NOT NULL,
    base_size INTEGER NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (release_id, position)
);
CREATE INDEX release_patches_by_digest ON release_patches (digest);
CREATE TABLE device_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    status TEXT NOT NULL,
    release_id INTEGER,
    reason TEXT
);
CREATE INDEX device_events_by_device ON device_events (device_id, id);
CREATE TABLE admin_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    result TEXT NOT NULL
);
