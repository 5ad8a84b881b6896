//! The SQL both backends share, written once with `?` placeholders; the PostgreSQL
//! implementation rewrites them to `$n`. [`impl_store!`] expands the [`Store`](super::Store)
//! implementation for one backend's pool type.

use std::borrow::Cow;

/// `?` → `$1, $2, …` (PostgreSQL). No statement here has a `?` inside a string literal.
pub(crate) fn dollar(sql: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

pub(crate) fn same(sql: &str) -> Cow<'_, str> {
    Cow::Borrowed(sql)
}

pub(crate) const DEVICE_COLS: &str = "id, class, state, registered_ms, last_seen_ms, running_digest, \
     running_version, running_sequence, last_status, tags";
pub(crate) const RELEASE_COLS: &str = "id, class_name, class_id, sequence, version, envelope_digest, \
     envelope_size, image_digest, image_size, created_ms, uploaded_by";

macro_rules! impl_store {
    ($ty:ty, $row:ty, $backend:literal, $sql:path) => {
        use $crate::domain::auth::{Role, TokenRecord};
        use $crate::domain::{Device, DeviceState, Millis, Patch, Release, Sha256};
        use $crate::store::queries::{DEVICE_COLS, RELEASE_COLS};
        use $crate::domain::rollout::{DeviceRecord, Rollout};
        use $crate::store::{
            digest, to_i64, to_u64, AuditRecord, CheckinRecord, ClassDevice, DeviceEvent, NewRelease, Result,
            RolloutRow, StoreError, VersionCount,
        };
        use sqlx::Row as _;

        fn device_row(r: &$row) -> Result<Device> {
            let state: String = r.try_get("state")?;
            let running_digest: Option<String> = r.try_get("running_digest")?;
            let running_sequence: Option<i64> = r.try_get("running_sequence")?;
            Ok(Device {
                id: r.try_get("id")?,
                class: r.try_get("class")?,
                state: DeviceState::parse(&state).ok_or_else(|| StoreError::Corrupt(state.clone()))?,
                registered_ms: r.try_get("registered_ms")?,
                last_seen_ms: r.try_get("last_seen_ms")?,
                running_digest: running_digest.as_deref().map(digest).transpose()?,
                running_version: r.try_get("running_version")?,
                running_sequence: running_sequence.map(to_u64).transpose()?,
                last_status: r.try_get("last_status")?,
                tags: $crate::domain::parse_tags(&r.try_get::<String, _>("tags")?),
            })
        }

        fn release_row(r: &$row) -> Result<Release> {
            let envelope: String = r.try_get("envelope_digest")?;
            let image: String = r.try_get("image_digest")?;
            Ok(Release {
                id: r.try_get("id")?,
                class_name: r.try_get("class_name")?,
                class_id: r.try_get("class_id")?,
                sequence: to_u64(r.try_get("sequence")?)?,
                version: r.try_get("version")?,
                envelope_digest: digest(&envelope)?,
                envelope_size: to_u64(r.try_get("envelope_size")?)?,
                image_digest: digest(&image)?,
                image_size: to_u64(r.try_get("image_size")?)?,
                patches: Vec::new(),
                created_ms: r.try_get("created_ms")?,
                uploaded_by: r.try_get("uploaded_by")?,
            })
        }

        fn patch_row(r: &$row) -> Result<Patch> {
            let base: String = r.try_get("base_digest")?;
            let d: String = r.try_get("digest")?;
            Ok(Patch {
                format: to_u64(r.try_get("format")?)?,
                base_digest: digest(&base)?,
                base_size: to_u64(r.try_get("base_size")?)?,
                digest: digest(&d)?,
                size: to_u64(r.try_get("size")?)?,
            })
        }

        fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
            serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("serialising: {e}")))
        }

        fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
            serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored document: {e}")))
        }

        fn token_row(r: &$row) -> Result<TokenRecord> {
            let role: String = r.try_get("role")?;
            let hash: String = r.try_get("token_sha256")?;
            Ok(TokenRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(role.clone()))?,
                hash: digest(&hash)?,
            })
        }

        impl $ty {
            async fn with_patches(&self, mut release: Release) -> Result<Release> {
                let sql = $sql("SELECT format, base_digest, base_size, digest, size FROM release_patches \
                     WHERE release_id = ? ORDER BY position");
                let rows = sqlx::query(&sql).bind(release.id).fetch_all(&self.pool).await?;
                release.patches = rows.iter().map(patch_row).collect::<Result<_>>()?;
                Ok(release)
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::Store for $ty {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn device(&self, id: &str) -> Result<Option<Device>> {
                if let Some(d) = self.devices.get(id) {
                    return Ok(Some(d));
                }
                let epoch = self.devices.epoch();
                let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id = ?");
                let sql = $sql(&sql);
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
                let device = row.as_ref().map(device_row).transpose()?;
                if let Some(d) = &device {
                    self.devices.put(epoch, d);
                }
                Ok(device)
            }

            async fn register_device(&self, id: &str, class: Option<&str>, now: Millis) -> Result<Device> {
                let sql = $sql("INSERT INTO devices (id, class, state, registered_ms, last_seen_ms) \
                     VALUES (?, ?, 'active', ?, ?) ON CONFLICT (id) DO NOTHING");
                sqlx::query(&sql).bind(id).bind(class).bind(now).bind(now).execute(&self.pool).await?;
                self.device(id).await?.ok_or(StoreError::Corrupt("device vanished".into()))
            }

            async fn register_devices(&self, ids: &[String], class: &str, now: Millis) -> Result<()> {
                for chunk in ids.chunks(500) {
                    let values = vec!["(?, ?, 'active', ?, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "INSERT INTO devices (id, class, state, registered_ms, last_seen_ms) VALUES {values} \
                         ON CONFLICT (id) DO NOTHING"
                    );
                    let sql = $sql(&sql);
                    let mut q = sqlx::query(&sql);
                    for id in chunk {
                        q = q.bind(id.as_str()).bind(class).bind(now).bind(now);
                    }
                    q.execute(&self.pool).await?;
                }
                Ok(())
            }

            async fn record_checkins(&self, batch: &[CheckinRecord]) -> Result<()> {
                // The last report of a device in the batch wins (a row is updated at most once).
                let mut latest: std::collections::HashMap<&str, &CheckinRecord> = std::collections::HashMap::new();
                for c in batch {
                    latest.insert(c.id.as_str(), c);
                }
                let rows: Vec<&CheckinRecord> = latest.into_values().collect();
                // Group commit: one statement per chunk, one transaction for the batch (a single
                // statement is its own transaction). VALUES columns are column1.. in both databases.
                fn statement(n: usize) -> String {
                    let values = vec!["(?, ?, ?, ?, ?, ?)"; n].join(", ");
                    format!(
                        "UPDATE devices SET last_seen_ms = v.column2, running_digest = v.column3, \
                         running_version = v.column4, running_sequence = v.column5, \
                         class = COALESCE(devices.class, v.column6) \
                         FROM (VALUES {values}) AS v WHERE devices.id = v.column1"
                    )
                }
                const CHUNK: usize = 256;
                let single = rows.len() <= CHUNK;
                let mut tx = if single { None } else { Some(self.pool.begin().await?) };
                for chunk in rows.chunks(CHUNK) {
                    let sql = statement(chunk.len());
                    let sql = $sql(&sql);
                    let mut q = sqlx::query(&sql);
                    for c in chunk {
                        q = q
                            .bind(c.id.as_str())
                            .bind(c.now)
                            .bind(c.running.digest.hex())
                            .bind(c.running.version.as_deref())
                            .bind(to_i64(c.running.sequence)?)
                            .bind(c.class.as_deref());
                    }
                    match tx.as_mut() {
                        Some(tx) => q.execute(&mut **tx).await?,
                        None => q.execute(&self.pool).await?,
                    };
                }
                if let Some(tx) = tx {
                    tx.commit().await?;
                }
                batch.iter().for_each(|c| self.devices.apply_checkin(c));
                Ok(())
            }

            async fn set_device_tags(&self, id: &str, tags: &[String]) -> Result<bool> {
                let sql = $sql("UPDATE devices SET tags = ? WHERE id = ?");
                self.devices.forget(id);
                let done = sqlx::query(&sql).bind(tags.join(",")).bind(id).execute(&self.pool).await?;
                self.devices.forget(id);
                Ok(done.rows_affected() == 1)
            }

            async fn set_device_state(&self, id: &str, state: DeviceState) -> Result<bool> {
                let sql = $sql("UPDATE devices SET state = ? WHERE id = ?");
                self.devices.forget(id);
                let done = sqlx::query(&sql).bind(state.as_str()).bind(id).execute(&self.pool).await?;
                self.devices.forget(id);
                Ok(done.rows_affected() == 1)
            }

            async fn list_devices(&self, limit: i64, after: Option<&str>) -> Result<Vec<Device>> {
                let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id > ? ORDER BY id LIMIT ?");
                let sql = $sql(&sql);
                let rows = sqlx::query(&sql).bind(after.unwrap_or("")).bind(limit).fetch_all(&self.pool).await?;
                rows.iter().map(device_row).collect()
            }

            async fn count_devices(&self) -> Result<i64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM devices").fetch_one(&self.pool).await?;
                Ok(row.try_get("n")?)
            }

            async fn record_event(&self, id: &str, event: &DeviceEvent) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                let sql = $sql("INSERT INTO device_events (device_id, at_ms, status, release_id, reason) \
                     VALUES (?, ?, ?, ?, ?)");
                sqlx::query(&sql)
                    .bind(id)
                    .bind(event.at_ms)
                    .bind(event.status.as_str())
                    .bind(event.release_id)
                    .bind(event.reason.as_deref())
                    .execute(&mut *tx)
                    .await?;
                let sql = $sql("UPDATE devices SET last_status = ? WHERE id = ?");
                sqlx::query(&sql).bind(event.status.as_str()).bind(id).execute(&mut *tx).await?;
                self.devices.forget(id);
                tx.commit().await?;
                self.devices.forget(id);
                Ok(())
            }

            async fn record_events(&self, events: &[(String, DeviceEvent)]) -> Result<()> {
                if events.is_empty() {
                    return Ok(());
                }
                let mut tx = self.pool.begin().await?;
                for chunk in events.chunks(200) {
                    let values = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "INSERT INTO device_events (device_id, at_ms, status, release_id, reason) VALUES {values}"
                    );
                    let sql = $sql(&sql);
                    let mut q = sqlx::query(&sql);
                    for (id, e) in chunk {
                        q = q
                            .bind(id.as_str())
                            .bind(e.at_ms)
                            .bind(e.status.as_str())
                            .bind(e.release_id)
                            .bind(e.reason.as_deref());
                    }
                    q.execute(&mut *tx).await?;
                }
                // The last event of each device sets its last_status (one statement per chunk).
                let mut last: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
                for (id, e) in events {
                    last.insert(id.as_str(), e.status.as_str());
                }
                let last: Vec<(&str, &str)> = last.into_iter().collect();
                for chunk in last.chunks(200) {
                    let values = vec!["(?, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "UPDATE devices SET last_status = v.column2 FROM (VALUES {values}) AS v \
                         WHERE devices.id = v.column1"
                    );
                    let sql = $sql(&sql);
                    let mut q = sqlx::query(&sql);
                    for (id, status) in chunk {
                        q = q.bind(*id).bind(*status);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                for (id, _) in &last {
                    self.devices.forget(id);
                }
                Ok(())
            }

            async fn device_events(&self, id: &str, limit: i64) -> Result<Vec<DeviceEvent>> {
                let sql = $sql("SELECT at_ms, status, release_id, reason FROM device_events \
                     WHERE device_id = ? ORDER BY id DESC LIMIT ?");
                let rows = sqlx::query(&sql).bind(id).bind(limit).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(DeviceEvent {
                            at_ms: r.try_get("at_ms")?,
                            status: r.try_get("status")?,
                            release_id: r.try_get("release_id")?,
                            reason: r.try_get("reason")?,
                        })
                    })
                    .collect()
            }

            async fn max_sequence(&self, class_id: &str) -> Result<u64> {
                let sql = $sql("SELECT max_sequence FROM release_classes WHERE class_id = ?");
                let row = sqlx::query(&sql).bind(class_id).fetch_optional(&self.pool).await?;
                match row {
                    Some(r) => to_u64(r.try_get("max_sequence")?),
                    None => Ok(0),
                }
            }

            async fn insert_release(&self, r: &NewRelease) -> Result<Release> {
                let seq = to_i64(r.sequence)?;
                let mut tx = self.pool.begin().await?;
                let sql = $sql("INSERT INTO release_classes (class_id, max_sequence) VALUES (?, 0) \
                     ON CONFLICT (class_id) DO NOTHING");
                sqlx::query(&sql).bind(r.class_id.as_str()).execute(&mut *tx).await?;
                // The row lock taken here serializes concurrent ingests of one class.
                let sql = $sql("UPDATE release_classes SET max_sequence = ? WHERE class_id = ? AND max_sequence < ?");
                let done = sqlx::query(&sql).bind(seq).bind(r.class_id.as_str()).bind(seq).execute(&mut *tx).await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(ota_protocol::ErrorCode::SEQUENCE_NOT_ABOVE_PREVIOUS));
                }
                let sql = format!(
                    "INSERT INTO releases (class_name, class_id, sequence, version, envelope_digest, envelope_size, \
                     image_digest, image_size, created_ms, uploaded_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     RETURNING {RELEASE_COLS}"
                );
                let sql = $sql(&sql);
                let row = sqlx::query(&sql)
                    .bind(r.class_name.as_str())
                    .bind(r.class_id.as_str())
                    .bind(seq)
                    .bind(r.version.as_str())
                    .bind(r.envelope_digest.hex())
                    .bind(to_i64(r.envelope_size)?)
                    .bind(r.image_digest.hex())
                    .bind(to_i64(r.image_size)?)
                    .bind(r.created_ms)
                    .bind(r.uploaded_by.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                let mut release = release_row(&row)?;
                let sql = $sql("INSERT INTO release_patches (release_id, position, format, base_digest, base_size, \
                     digest, size) VALUES (?, ?, ?, ?, ?, ?, ?)");
                for (i, p) in r.patches.iter().enumerate() {
                    sqlx::query(&sql)
                        .bind(release.id)
                        .bind(to_i64(i as u64)?)
                        .bind(to_i64(p.format)?)
                        .bind(p.base_digest.hex())
                        .bind(to_i64(p.base_size)?)
                        .bind(p.digest.hex())
                        .bind(to_i64(p.size)?)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                release.patches = r.patches.clone();
                Ok(release)
            }

            async fn latest_release(&self, class_name: &str) -> Result<Option<Release>> {
                let sql = format!(
                    "SELECT {RELEASE_COLS} FROM releases WHERE class_name = ? ORDER BY sequence DESC LIMIT 1"
                );
                let sql = $sql(&sql);
                let row = sqlx::query(&sql).bind(class_name).fetch_optional(&self.pool).await?;
                match row {
                    Some(r) => Ok(Some(self.with_patches(release_row(&r)?).await?)),
                    None => Ok(None),
                }
            }

            async fn release(&self, id: i64) -> Result<Option<Release>> {
                let sql = format!("SELECT {RELEASE_COLS} FROM releases WHERE id = ?");
                let sql = $sql(&sql);
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
                match row {
                    Some(r) => Ok(Some(self.with_patches(release_row(&r)?).await?)),
                    None => Ok(None),
                }
            }

            async fn list_releases(&self) -> Result<Vec<Release>> {
                let sql = format!("SELECT {RELEASE_COLS} FROM releases ORDER BY id");
                let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    out.push(self.with_patches(release_row(r)?).await?);
                }
                Ok(out)
            }

            async fn artifact_known(&self, d: &Sha256) -> Result<bool> {
                let sql = $sql("SELECT 1 AS k FROM releases WHERE image_digest = ? OR envelope_digest = ? \
                     UNION ALL SELECT 1 AS k FROM release_patches WHERE digest = ? LIMIT 1");
                let hex = d.hex();
                let row = sqlx::query(&sql).bind(&hex).bind(&hex).bind(&hex).fetch_optional(&self.pool).await?;
                Ok(row.is_some())
            }

            async fn insert_rollout(&self, release_id: i64, name: &str, rollout: &Rollout, now: Millis) -> Result<i64> {
                let sql = $sql("INSERT INTO rollouts (release_id, name, doc, created_ms, updated_ms) \
                     VALUES (?, ?, ?, ?, ?) RETURNING id");
                let row = sqlx::query(&sql)
                    .bind(release_id)
                    .bind(name)
                    .bind(to_json(rollout)?)
                    .bind(now)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("id")?)
            }

            async fn list_rollouts(&self) -> Result<Vec<RolloutRow>> {
                let rows = sqlx::query("SELECT id, release_id, name, doc, created_ms, updated_ms FROM rollouts ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        let doc: String = r.try_get("doc")?;
                        Ok(RolloutRow {
                            id: r.try_get("id")?,
                            release_id: r.try_get("release_id")?,
                            name: r.try_get("name")?,
                            rollout: from_json(&doc)?,
                            created_ms: r.try_get("created_ms")?,
                            updated_ms: r.try_get("updated_ms")?,
                        })
                    })
                    .collect()
            }

            async fn rollout_devices(&self, rollout_id: i64) -> Result<Vec<DeviceRecord>> {
                let sql = $sql("SELECT doc FROM rollout_devices WHERE rollout_id = ?");
                let rows = sqlx::query(&sql).bind(rollout_id).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        let doc: String = r.try_get("doc")?;
                        from_json(&doc)
                    })
                    .collect()
            }

            async fn save_rollout(
                &self,
                rollout_id: i64,
                rollout: Option<&Rollout>,
                devices: &[&DeviceRecord],
                now: Millis,
            ) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                if let Some(rollout) = rollout {
                    let sql = $sql("UPDATE rollouts SET doc = ?, updated_ms = ? WHERE id = ?");
                    sqlx::query(&sql).bind(to_json(rollout)?).bind(now).bind(rollout_id).execute(&mut *tx).await?;
                }
                for chunk in devices.chunks(200) {
                    let values = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "INSERT INTO rollout_devices (rollout_id, device_id, stage, doc, updated_ms) VALUES {values} \
                         ON CONFLICT (rollout_id, device_id) DO UPDATE SET stage = excluded.stage, \
                         doc = excluded.doc, updated_ms = excluded.updated_ms"
                    );
                    let sql = $sql(&sql);
                    let mut q = sqlx::query(&sql);
                    for d in chunk {
                        q = q
                            .bind(rollout_id)
                            .bind(d.device_id.as_str())
                            .bind(d.stage.as_str())
                            .bind(to_json(*d)?)
                            .bind(d.updated_at);
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn class_devices(&self, class: &str) -> Result<Vec<ClassDevice>> {
                let sql = $sql("SELECT id, state, running_sequence, tags FROM devices WHERE class = ?");
                let rows = sqlx::query(&sql).bind(class).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        let state: String = r.try_get("state")?;
                        let seq: Option<i64> = r.try_get("running_sequence")?;
                        Ok(ClassDevice {
                            id: r.try_get("id")?,
                            state: DeviceState::parse(&state).ok_or_else(|| StoreError::Corrupt(state.clone()))?,
                            running_sequence: seq.map(to_u64).transpose()?,
                            tags: $crate::domain::parse_tags(&r.try_get::<String, _>("tags")?),
                        })
                    })
                    .collect()
            }

            async fn fleet_versions(&self) -> Result<Vec<VersionCount>> {
                let rows = sqlx::query(
                    "SELECT class, running_version, running_sequence, running_digest, COUNT(*) AS n FROM devices \
                     WHERE state = 'active' GROUP BY class, running_version, running_sequence, running_digest \
                     ORDER BY class, running_sequence DESC",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let seq: Option<i64> = r.try_get("running_sequence")?;
                        let d: Option<String> = r.try_get("running_digest")?;
                        let n: i64 = r.try_get("n")?;
                        Ok(VersionCount {
                            class: r.try_get("class")?,
                            version: r.try_get("running_version")?,
                            sequence: seq.map(to_u64).transpose()?,
                            digest: d.as_deref().map(digest).transpose()?,
                            devices: to_u64(n)?,
                        })
                    })
                    .collect()
            }

            async fn insert_token(&self, name: &str, role: Role, hash: &Sha256, now: Millis) -> Result<TokenRecord> {
                let sql = $sql("INSERT INTO admin_tokens (name, role, token_sha256, created_ms) VALUES (?, ?, ?, ?) \
                     RETURNING id, name, role, token_sha256");
                let row = sqlx::query(&sql).bind(name).bind(role.as_str()).bind(hash.hex()).bind(now)
                    .fetch_one(&self.pool).await?;
                token_row(&row)
            }

            async fn token_by_hash(&self, hash: &Sha256) -> Result<Option<TokenRecord>> {
                let sql = $sql("SELECT id, name, role, token_sha256 FROM admin_tokens WHERE token_sha256 = ?");
                let row = sqlx::query(&sql).bind(hash.hex()).fetch_optional(&self.pool).await?;
                row.as_ref().map(token_row).transpose()
            }

            async fn count_tokens(&self) -> Result<i64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM admin_tokens").fetch_one(&self.pool).await?;
                Ok(row.try_get("n")?)
            }

            async fn append_audit(&self, a: &AuditRecord) -> Result<()> {
                let sql = $sql("INSERT INTO audit_log (at_ms, actor, action, target, result) VALUES (?, ?, ?, ?, ?)");
                sqlx::query(&sql)
                    .bind(a.at_ms)
                    .bind(a.actor.as_str())
                    .bind(a.action.as_str())
                    .bind(a.target.as_str())
                    .bind(a.result.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>> {
                let sql = $sql("SELECT at_ms, actor, action, target, result FROM audit_log ORDER BY id DESC LIMIT ?");
                let rows = sqlx::query(&sql).bind(limit).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r| {
                        Ok(AuditRecord {
                            at_ms: r.try_get("at_ms")?,
                            actor: r.try_get("actor")?,
                            action: r.try_get("action")?,
                            target: r.try_get("target")?,
                            result: r.try_get("result")?,
                        })
                    })
                    .collect()
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}

pub(crate) use impl_store;

#[cfg(test)]
mod tests {
    #[test]
    fn dollar_numbers_placeholders() {
        assert_eq!(super::dollar("a = ? AND b = ?"), "a = $1 AND b = $2");
    }
}
