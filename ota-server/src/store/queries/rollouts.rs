//! Rollouts (engine state as a JSON document), their device records, and the per-class and
//! fleet views of devices the engine sizes cohorts from.

macro_rules! impl_rollouts {
    ($ty:ty, $row:ty, $backend:literal, $sql:path) => {
        use sqlx::Row as _;
        use $crate::domain::rollout::{DeviceRecord, DeviceStage, Rollout};
        use $crate::domain::{parse_tags, DeviceState, Millis};
        use $crate::store::queries::{from_json, to_json};
        use $crate::store::{
            digest, to_u64, ClassDevice, RecordChange, Reservation, Result, RolloutRow, StoreError, VersionCount,
        };

        const ROLLOUT_COLS: &str = "id, version, release_id, name, doc, created_ms, updated_ms";
        /// Rows locked by a read inside a write transaction: PostgreSQL needs `FOR UPDATE`;
        /// SQLite's write transactions ([`begin_write`]) already hold the database.
        fn for_update() -> &'static str {
            if $backend == "postgres" {
                " FOR UPDATE"
            } else {
                ""
            }
        }

        fn rollout_row(r: &$row) -> Result<RolloutRow> {
            let doc: String = r.try_get("doc")?;
            Ok(RolloutRow {
                id: r.try_get("id")?,
                version: r.try_get("version")?,
                release_id: r.try_get("release_id")?,
                name: r.try_get("name")?,
                rollout: from_json(&doc)?,
                created_ms: r.try_get("created_ms")?,
                updated_ms: r.try_get("updated_ms")?,
            })
        }

        /// A statement built at run time, with the backend's placeholders.
        fn q(sql: String) -> String {
            $sql(&sql).into_owned()
        }

        /// `?, ?, …` for `n` values.
        fn marks(n: usize) -> String {
            vec!["?"; n].join(", ")
        }

        /// `'offered', 'downloading', …`: the in-flight stages (fixed names, no user input).
        fn in_flight_stages() -> String {
            DeviceStage::IN_FLIGHT
                .iter()
                .map(|s| format!("'{}'", s.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        }

        impl $ty {
            /// A transaction that takes the write lock first: SQLite's `BEGIN IMMEDIATE` (a
            /// read that later writes could otherwise fail with SQLITE_BUSY); PostgreSQL locks
            /// rows as statements reach them.
            async fn begin_write(&self) -> Result<sqlx::Transaction<'static, <$row as sqlx::Row>::Database>> {
                Ok(if $backend == "sqlite" {
                    self.pool.begin_with("BEGIN IMMEDIATE").await?
                } else {
                    self.pool.begin().await?
                })
            }

            pub(crate) async fn insert_rollout(
                &self,
                release_id: i64,
                name: &str,
                rollout: &Rollout,
                now: Millis,
            ) -> Result<i64> {
                let sql = $sql(
                    "INSERT INTO rollouts (release_id, name, doc, created_ms, updated_ms, version) \
                     VALUES (?, ?, ?, ?, ?, 0) RETURNING id",
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
                let sql = format!("SELECT {ROLLOUT_COLS} FROM rollouts ORDER BY id");
                let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
                rows.iter().map(rollout_row).collect()
            }

            pub(crate) async fn rollout(&self, id: i64) -> Result<Option<RolloutRow>> {
                let sql = q(format!("SELECT {ROLLOUT_COLS} FROM rollouts WHERE id = ?"));
                let row = sqlx::query(&sql).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(rollout_row).transpose()
            }

            pub(crate) async fn rollout_versions(&self) -> Result<Vec<(i64, i64)>> {
                let rows = sqlx::query("SELECT id, version FROM rollouts ORDER BY id")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r: &$row| Ok((r.try_get("id")?, r.try_get("version")?)))
                    .collect()
            }

            pub(crate) async fn update_rollout(
                &self,
                id: i64,
                expected: i64,
                rollout: &Rollout,
                now: Millis,
            ) -> Result<bool> {
                let sql = $sql(
                    "UPDATE rollouts SET doc = ?, updated_ms = ?, version = version + 1 WHERE id = ? AND version = ?",
                );
                let done = sqlx::query(&sql)
                    .bind(to_json(rollout)?)
                    .bind(now)
                    .bind(id)
                    .bind(expected)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
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

            pub(crate) async fn rollout_counts(
                &self,
                rollout_id: i64,
                penalty_after: u32,
            ) -> Result<Vec<(usize, DeviceStage, u32, u32)>> {
                let sql = $sql(
                    "SELECT stage_index, stage, COUNT(*) AS n, \
                     SUM(CASE WHEN failures >= ? THEN 1 ELSE 0 END) AS boxed \
                     FROM rollout_devices WHERE rollout_id = ? GROUP BY stage_index, stage",
                );
                let rows = sqlx::query(&sql)
                    .bind(i64::from(penalty_after))
                    .bind(rollout_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r: &$row| {
                        let index: i64 = r.try_get("stage_index")?;
                        let stage: String = r.try_get("stage")?;
                        let n: i64 = r.try_get("n")?;
                        let boxed: i64 = r.try_get("boxed")?;
                        let stage = DeviceStage::parse(&stage).ok_or_else(|| StoreError::Corrupt(format!("stage {stage}")))?;
                        Ok((
                            usize::try_from(index).map_err(|_| StoreError::Corrupt(format!("stage index {index}")))?,
                            stage,
                            u32::try_from(n).unwrap_or(u32::MAX),
                            // The penalty box holds failed devices only (a retried one is in flight again).
                            if stage.is_failure() { u32::try_from(boxed).unwrap_or(u32::MAX) } else { 0 },
                        ))
                    })
                    .collect()
            }

            pub(crate) async fn device_records(
                &self,
                device_id: &str,
                rollout_ids: &[i64],
            ) -> Result<Vec<(i64, DeviceRecord)>> {
                let mut out = Vec::new();
                for chunk in rollout_ids.chunks(100) {
                    let sql = q(format!(
                        "SELECT rollout_id, doc FROM rollout_devices WHERE device_id = ? AND rollout_id IN ({})",
                        marks(chunk.len())
                    ));
                    let mut q = sqlx::query(&sql).bind(device_id);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    for r in q.fetch_all(&self.pool).await? {
                        let doc: String = r.try_get("doc")?;
                        out.push((r.try_get("rollout_id")?, from_json(&doc)?));
                    }
                }
                Ok(out)
            }

            pub(crate) async fn reserve_offer(
                &self,
                rollout_id: i64,
                version: i64,
                record: &DeviceRecord,
                max_in_flight: u32,
            ) -> Result<Reservation> {
                let mut tx = self.begin_write().await?;
                // Locks the rollout's row: a concurrent pause (or any change) either committed
                // before (the version differs: refuse) or waits for this offer.
                let sql = $sql("UPDATE rollouts SET version = version WHERE id = ? AND version = ?");
                let locked = sqlx::query(&sql).bind(rollout_id).bind(version).execute(&mut *tx).await?;
                if locked.rows_affected() != 1 {
                    return Ok(Reservation::Stale);
                }
                let sql = $sql("SELECT doc FROM rollout_devices WHERE rollout_id = ? AND device_id = ?");
                if let Some(r) = sqlx::query(&sql)
                    .bind(rollout_id)
                    .bind(record.device_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                {
                    let doc: String = r.try_get("doc")?;
                    return Ok(Reservation::Exists(from_json(&doc)?));
                }
                // The in-flight cap, counted under the lock: every new offer of this rollout,
                // on any replica, serializes on the row locked above.
                let sql = q(format!(
                    "SELECT COUNT(*) AS n FROM rollout_devices WHERE rollout_id = ? AND stage IN ({})",
                    in_flight_stages()
                ));
                let n: i64 = sqlx::query(&sql).bind(rollout_id).fetch_one(&mut *tx).await?.try_get("n")?;
                if n >= i64::from(max_in_flight) {
                    return Ok(Reservation::Full);
                }
                let sql = $sql(
                    "INSERT INTO rollout_devices (rollout_id, device_id, stage, stage_index, failures, doc, updated_ms) \
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                );
                sqlx::query(&sql)
                    .bind(rollout_id)
                    .bind(record.device_id.as_str())
                    .bind(record.stage.as_str())
                    .bind(i64::try_from(record.stage_index).unwrap_or(i64::MAX))
                    .bind(i64::from(record.failures))
                    .bind(to_json(record)?)
                    .bind(record.updated_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Reservation::Stored)
            }

            pub(crate) async fn apply_record_events(&self, events: &[RecordChange]) -> Result<()> {
                let mut rollouts: Vec<i64> = events.iter().map(|e| e.0).collect();
                rollouts.sort_unstable();
                rollouts.dedup();
                let mut tx = self.begin_write().await?;
                for rollout_id in rollouts {
                    let mine: Vec<&RecordChange> = events.iter().filter(|e| e.0 == rollout_id).collect();
                    let mut ids: Vec<&str> = mine.iter().map(|e| e.1.as_str()).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    // Lock and read the stored records (in a fixed order: no deadlock between replicas).
                    let mut records = std::collections::HashMap::new();
                    for chunk in ids.chunks(200) {
                        let sql = q(format!(
                            "SELECT device_id, doc FROM rollout_devices WHERE rollout_id = ? AND device_id IN ({}) \
                             ORDER BY device_id{}",
                            marks(chunk.len()),
                            for_update()
                        ));
                        let mut q = sqlx::query(&sql).bind(rollout_id);
                        for id in chunk {
                            q = q.bind(*id);
                        }
                        for r in q.fetch_all(&mut *tx).await? {
                            let doc: String = r.try_get("doc")?;
                            let id: String = r.try_get("device_id")?;
                            records.insert(id, (from_json::<DeviceRecord>(&doc)?, false));
                        }
                    }
                    // The engine's rule, applied in arrival order to the stored state.
                    for (_, device, event, at) in mine {
                        if let Some((record, changed)) = records.get_mut(device) {
                            if record.take(event, *at) {
                                *changed = true;
                            }
                        }
                    }
                    let changed: Vec<&DeviceRecord> = records.values().filter(|(_, c)| *c).map(|(r, _)| r).collect();
                    for d in changed {
                        let sql = $sql(
                            "UPDATE rollout_devices SET stage = ?, stage_index = ?, failures = ?, unproven = ?, \
                             doc = ?, updated_ms = ? WHERE rollout_id = ? AND device_id = ?",
                        );
                        sqlx::query(&sql)
                            .bind(d.stage.as_str())
                            .bind(i64::try_from(d.stage_index).unwrap_or(i64::MAX))
                            .bind(i64::from(d.failures))
                            .bind(i64::from(d.unproven_claims))
                            .bind(to_json(d)?)
                            .bind(d.updated_at)
                            .bind(rollout_id)
                            .bind(d.device_id.as_str())
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            /// Devices of the rollout that claimed success without the evidence a commit needs
            /// (at most `limit`, most recent first): what the rollout view shows as suspicious.
            pub(crate) async fn suspicious_devices(&self, rollout_id: i64, limit: i64) -> Result<Vec<(String, u32)>> {
                let sql = $sql(
                    "SELECT device_id, unproven FROM rollout_devices WHERE rollout_id = ? AND unproven > 0 \
                     ORDER BY updated_ms DESC, device_id LIMIT ?",
                );
                let rows = sqlx::query(&sql).bind(rollout_id).bind(limit).fetch_all(&self.pool).await?;
                rows.iter()
                    .map(|r: &$row| {
                        let n: i64 = r.try_get("unproven")?;
                        Ok((r.try_get("device_id")?, u32::try_from(n).unwrap_or(u32::MAX)))
                    })
                    .collect()
            }

            pub(crate) async fn stalled_devices(&self, rollout_id: i64, before: Millis) -> Result<Vec<String>> {
                let sql = q(format!(
                    "SELECT device_id FROM rollout_devices WHERE rollout_id = ? AND stage IN ({}) AND updated_ms <= ?",
                    in_flight_stages()
                ));
                let rows = sqlx::query(&sql).bind(rollout_id).bind(before).fetch_all(&self.pool).await?;
                rows.iter().map(|r: &$row| Ok(r.try_get("device_id")?)).collect()
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
