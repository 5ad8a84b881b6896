//! What devices report: check-ins (running image, last seen, class) and status events.

macro_rules! impl_checkins {
    ($ty:ty, $row:ty, $sql:path) => {
        use std::collections::HashMap;

        use sqlx::Row as _;
        use $crate::store::{to_i64, CheckinRecord, DeviceEvent, Result};

        impl $ty {
            pub(crate) async fn record_checkins(&self, batch: &[CheckinRecord]) -> Result<()> {
                // The last report of a device in the batch wins (a row is updated at most once).
                let mut latest: HashMap<&str, &CheckinRecord> = HashMap::new();
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
                let mut tx = if single {
                    None
                } else {
                    Some(self.pool.begin().await?)
                };
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

            pub(crate) async fn record_event(&self, id: &str, event: &DeviceEvent) -> Result<()> {
                self.record_events(&[(id.to_owned(), event.clone())]).await
            }

            pub(crate) async fn record_events(&self, events: &[(String, DeviceEvent)]) -> Result<()> {
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
                let mut last: HashMap<&str, &str> = HashMap::new();
                for (id, e) in events {
                    last.insert(id.as_str(), e.status.as_str());
                }
                let last: Vec<(&str, &str)> = last.into_iter().collect();
                for (id, _) in &last {
                    self.devices.forget(id);
                }
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

            pub(crate) async fn prune_device_events(
                &self,
                keep_per_device: i64,
                before_ms: $crate::domain::Millis,
            ) -> Result<u64> {
                let by_age = sqlx::query(&$sql("DELETE FROM device_events WHERE at_ms < ?"))
                    .bind(before_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                // Only devices over the cap are ranked (the index on (device_id, id) serves both).
                let by_count = sqlx::query(&$sql(
                    "DELETE FROM device_events WHERE id IN (SELECT id FROM (\
                       SELECT e.id, ROW_NUMBER() OVER (PARTITION BY e.device_id ORDER BY e.id DESC) AS n \
                       FROM device_events e WHERE e.device_id IN (\
                         SELECT device_id FROM device_events GROUP BY device_id HAVING COUNT(*) > ?)) ranked \
                     WHERE n > ?)",
                ))
                .bind(keep_per_device)
                .bind(keep_per_device)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(by_age + by_count)
            }

            pub(crate) async fn device_events(&self, id: &str, limit: i64) -> Result<Vec<DeviceEvent>> {
                let sql = $sql(
                    "SELECT at_ms, status, release_id, reason FROM device_events \
                     WHERE device_id = ? ORDER BY id DESC LIMIT ?",
                );
                let rows = sqlx::query(&sql)
                    .bind(id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r: &$row| {
                        Ok(DeviceEvent {
                            at_ms: r.try_get("at_ms")?,
                            status: r.try_get("status")?,
                            release_id: r.try_get("release_id")?,
                            reason: r.try_get("reason")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

pub(crate) use impl_checkins;
