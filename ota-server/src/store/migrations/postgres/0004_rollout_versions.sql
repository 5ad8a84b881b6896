-- Several replicas share rollouts (docs/ARCHITECTURE.md, "Scaling out"): every change of a
-- rollout's engine state is a conditional update on `version` (compare and set), so each
-- transition happens once fleet-wide and a replica deciding on an old state finds out.
ALTER TABLE rollouts ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
-- Counts are aggregated in SQL by (stage index, stage); the stage index was only in `doc`.
ALTER TABLE rollout_devices ADD COLUMN stage_index BIGINT NOT NULL DEFAULT 0;
UPDATE rollout_devices SET stage_index = COALESCE((doc::json ->> 'stage_index')::BIGINT, 0);
-- Failures per device (the penalty box), also only in `doc`.
ALTER TABLE rollout_devices ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
UPDATE rollout_devices SET failures = COALESCE((doc::json ->> 'failures')::BIGINT, 0);
-- In-flight reservations count a rollout's records by stage; check-ins read a device's records.
CREATE INDEX rollout_devices_by_stage ON rollout_devices (rollout_id, stage, updated_ms);
CREATE INDEX rollout_devices_by_device ON rollout_devices (device_id);
