//! Rollouts (engine state as a JSON document), their device records, and the per-class and
//! fleet views of devices the engine sizes cohorts from.

macro_rules! impl_rollouts {
    ($ty:ty, $row:ty, $sql:path) => {
        use sqlx::Row as _;
        use $crate::domain::rollout::{DeviceRecord, Rollout};
        use $crate::domain::{parse_tags, DeviceState, Millis};
        use $crate::store::queries::{from_json, to_json};
        use $crate::store::{digest, to_u64, ClassDevice, Result, RolloutRow, StoreError, VersionCount};

        impl $ty {
            pub(crate) async fn insert_rollout(
                &self,
                release_id: i64,
                name: &str,
                rollout: &Rollout,
                now: Millis,
            ) -> Result<i64> {
                let sql = $sql(
                    "INSERT INTO rollouts (release_id, name, doc, created_ms, updated_ms) \
                     VALUES (?, ?, ?, ?, ?) RETURNING id",
                );
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

            pub(crate) async fn list_rollouts(&self) -> Result<Vec<RolloutRow>> {
                let rows =
                    sqlx::query("SELECT id, release_id, name, doc, created_ms, updated_ms FROM rollouts ORDER BY id")
                        .fetch_all(&self.pool)
                        .await?;
                rows.iter()
                    .map(|r: &$row| {
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

            pub(crate) async fn rollout_devices(&self, rollout_id: i64) -> Result<Vec<DeviceRecord>> {
                let sql = $sql("SELECT doc FROM rollout_devices WHERE rollout_id = ?");
                let rows = sqlx::query(&sql).bind(rollout_id).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r: &$row| {
                        let doc: String = r.try_get("doc")?;
                        from_json(&doc)
                    })
                    .collect()
            }

            pub(crate) async fn save_rollout(
                &self,
                rollout_id: i64,
                rollout: Option<&Rollout>,
                devices: &[&DeviceRecord],
                now: Millis,
            ) -> Result<()> {
                let mut tx = self.pool.begin().await?;
                if let Some(rollout) = rollout {
                    let sql = $sql("UPDATE rollouts SET doc = ?, updated_ms = ? WHERE id = ?");
                    sqlx::query(&sql)
                        .bind(to_json(rollout)?)
                        .bind(now)
                        .bind(rollout_id)
                        .execute(&mut *tx)
                        .await?;
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

            pub(crate) async fn class_devices(&self, class: &str) -> Result<Vec<ClassDevice>> {
                let sql = $sql("SELECT id, state, running_sequence, tags FROM devices WHERE class = ?");
                let rows = sqlx::query(&sql).bind(class).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r: &$row| {
                        let state: String = r.try_get("state")?;
                        let seq: Option<i64> = r.try_get("running_sequence")?;
                        Ok(ClassDevice {
                            id: r.try_get("id")?,
                            state: DeviceState::parse(&state).ok_or_else(|| StoreError::Corrupt(state.clone()))?,
                            running_sequence: seq.map(to_u64).transpose()?,
                            tags: parse_tags(&r.try_get::<String, _>("tags")?),
                        })
                    })
                    .collect()
            }

            pub(crate) async fn fleet_versions(&self) -> Result<Vec<VersionCount>> {
                let rows = sqlx::query(
                    "SELECT class, running_version, running_sequence, running_digest, COUNT(*) AS n FROM devices \
                     WHERE state = 'active' GROUP BY class, running_version, running_sequence, running_digest \
                     ORDER BY class, running_sequence DESC",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r: &$row| {
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
        }
    };
}

pub(crate) use impl_rollouts;
