-- Evidence behind a device's "committed" (issue 15, item 1): how far into each artifact the
-- server has served a device, as a contiguous prefix `served` of `size` bytes (resumed ranges
-- extend it). Stored before the bytes it covers are sent, so a crash never loses evidence a
-- device acted on.
CREATE TABLE device_downloads (
    device_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    size BIGINT NOT NULL,
    served BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (device_id, digest)
);
-- Claims of success the server holds no evidence for (a commit without a full download),
-- counted per device record so the rollout view can show them.
ALTER TABLE rollout_devices ADD COLUMN unproven BIGINT NOT NULL DEFAULT 0;
