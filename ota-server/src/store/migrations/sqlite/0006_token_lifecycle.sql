-- Admin tokens can expire, be revoked and show when they were last used (issue 15, item 3).
ALTER TABLE admin_tokens ADD COLUMN expires_ms INTEGER;
ALTER TABLE admin_tokens ADD COLUMN revoked_ms INTEGER;
ALTER TABLE admin_tokens ADD COLUMN last_used_ms INTEGER;
