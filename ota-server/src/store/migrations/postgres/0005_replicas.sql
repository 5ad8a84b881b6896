-- Replicas sharing the database (docs/ARCHITECTURE.md, "Scaling out"): each stores a heartbeat
-- every second; a revocation waits for the acknowledgement of every replica seen in the last
-- five seconds. (SQLite: one process per database file; the table stays empty.)
CREATE TABLE replicas (
    id TEXT PRIMARY KEY,
    heartbeat_ms BIGINT NOT NULL,
    started_ms BIGINT NOT NULL
);
