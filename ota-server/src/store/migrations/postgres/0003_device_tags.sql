-- Device tags (groups) that rollouts can target: comma-separated, sorted, each [a-z0-9._-]{1,32}.
ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT '';
