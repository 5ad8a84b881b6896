-- Staged rollouts. `doc` is the rollout engine's persistent state as JSON (plan, cohort salt,
-- state, current stage, acknowledged failures, timeline); per-device progress lives in
-- rollout_devices, from which every count is derived (never incremented: no double counting).
CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    release_id INTEGER NOT NULL REFERENCES releases (id),
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX rollouts_by_release ON rollouts (release_id);
CREATE TABLE rollout_devices (
    rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
    device_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    doc TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, device_id)
);
CREATE INDEX devices_by_class ON devices (class);
