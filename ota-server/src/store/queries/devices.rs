//! Devices: registration, lookups (through the write-through cache), state and tags.

macro_rules! impl_devices {
    ($ty:ty, $row:ty, $sql:path) => {
        use sqlx::Row as _;
        use $crate::domain::{parse_tags, Device, DeviceState, Millis};
        use $crate::store::queries::DEVICE_COLS;
        use $crate::store::{digest, to_u64, Result, StoreError};

        pub(crate) fn device_row(r: &$row) -> Result<Device> {
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
                tags: parse_tags(&r.try_get::<String, _>("tags")?),
                revoked_serials: $crate::domain::certificates::parse_serial_list(
                    &r.try_get::<String, _>("revoked_serials")?,
                ),
                current_serial: r.try_get("current_serial")?,
                pending_command: r.try_get("pending_command")?,
            })
        }

        impl $ty {
            pub(crate) async fn device(&self, id: &str) -> Result<Option<Device>> {
                match self.devices.lookup(id) {
                    $crate::store::cache::Lookup::Hit(d) => Ok(Some(*d)),
                    // The cache holds every row (SQLite, preloaded): no such device.
                    $crate::store::cache::Lookup::Absent => Ok(None),
                    $crate::store::cache::Lookup::Unknown => self.read_device(id).await,
                }
            }

            /// Reads the row (and caches it).
            async fn read_device(&self, id: &str) -> Result<Option<Device>> {
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

            pub(crate) async fn register_device(&self, id: &str, class: Option<&str>, now: Millis) -> Result<Device> {
                let sql = $sql(
                    "INSERT INTO devices (id, class, state, registered_ms, last_seen_ms) \
                     VALUES (?, ?, 'active', ?, ?) ON CONFLICT (id) DO NOTHING",
                );
                sqlx::query(&sql)
                    .bind(id)
                    .bind(class)
                    .bind(now)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                self.read_device(id)
                    .await?
                    .ok_or(StoreError::Corrupt("device vanished".into()))
            }

            /// Reads every device into the cache, a page at a time (a page read while a row
            /// was invalidated is not cached: those rows are read on use), unless there are
            /// `max` devices or more (`None`). Returns how many rows were read.
            pub(crate) async fn warm_cache(&self, max: i64) -> Result<Option<usize>> {
                const PAGE: i64 = 5_000;
                if !self.devices.usable() || self.count_devices().await? >= max {
                    return Ok(None);
                }
                let (mut after, mut n) = (String::new(), 0usize);
                loop {
                    let epoch = self.devices.epoch();
                    let page = self.list_devices(PAGE, Some(&after)).await?;
                    for d in &page {
                        self.devices.put(epoch, d);
                    }
                    n += page.len();
                    match page.last() {
                        Some(last) if page.len() == PAGE as usize => after = last.id.clone(),
                        _ => return Ok(Some(n)),
                    }
                }
            }

            /// Warms the cache and marks it complete, so that a miss needs no read (SQLite, the
            /// file's only writer, at open, before anything else runs).
            #[allow(dead_code)] // SQLite only: a PostgreSQL replica's cache is never complete
            pub(crate) async fn preload_devices(&self, max: i64) -> Result<usize> {
                let epoch = self.devices.epoch();
                let n = self.warm_cache(max).await?;
                Ok(match n {
                    Some(n) if self.devices.mark_complete(epoch) => n,
                    _ => 0,
                })
            }

            pub(crate) async fn register_devices(&self, ids: &[String], class: &str, now: Millis) -> Result<()> {
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
                    if self.devices.is_complete() {
                        // New rows must be in a complete cache (a miss there means "none").
                        let sql = format!(
                            "SELECT {DEVICE_COLS} FROM devices WHERE id IN ({})",
                            vec!["?"; chunk.len()].join(", ")
                        );
                        let sql = $sql(&sql);
                        let epoch = self.devices.epoch();
                        let mut q = sqlx::query(&sql);
                        for id in chunk {
                            q = q.bind(id.as_str());
                        }
                        for row in q.fetch_all(&self.pool).await? {
                            self.devices.put(epoch, &device_row(&row)?);
                        }
                    }
                }
                Ok(())
            }

            /// Sets the device's class, registering it (active) if it is new.
            pub(crate) async fn set_device_class(&self, id: &str, class: &str, now: Millis) -> Result<()> {
                let sql = $sql(
                    "INSERT INTO devices (id, class, state, registered_ms, last_seen_ms) \
                     VALUES (?, ?, 'active', ?, 0) ON CONFLICT (id) DO UPDATE SET class = excluded.class",
                );
                self.devices.forget(id);
                sqlx::query(&sql)
                    .bind(id)
                    .bind(class)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                self.devices.forget(id);
                // Every replica drops its cached row before this returns (store/feed.rs).
                self.device_changed(id).await?;
                Ok(())
            }

            pub(crate) async fn set_device_tags(&self, id: &str, tags: &[String]) -> Result<bool> {
                let sql = $sql("UPDATE devices SET tags = ? WHERE id = ?");
                self.devices.forget(id);
                let done = sqlx::query(&sql)
                    .bind(tags.join(","))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                self.devices.forget(id);
                self.device_changed(id).await?;
                Ok(done.rows_affected() == 1)
            }

            /// Leaves `command` for the device's next check-in (`None`: clears it).
            pub(crate) async fn set_pending_command(&self, id: &str, command: Option<&str>) -> Result<bool> {
                let sql = $sql("UPDATE devices SET pending_command = ? WHERE id = ?");
                self.devices.forget(id);
                let done = sqlx::query(&sql)
                    .bind(command)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                self.devices.forget(id);
                self.device_changed(id).await?;
                Ok(done.rows_affected() == 1)
            }

            /// Decommissions an active device whose pending command is `factory_reset`, in one
            /// statement; `false` if another request already did (or there is none).
            pub(crate) async fn claim_factory_reset(&self, id: &str) -> Result<bool> {
                let sql = $sql(
                    "UPDATE devices SET state = 'decommissioned', pending_command = NULL \
                     WHERE id = ? AND state = 'active' AND pending_command = ?",
                );
                let done = sqlx::query(&sql)
                    .bind(id)
                    .bind($crate::domain::FACTORY_RESET)
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                self.devices.state_changed(id);
                self.device_changed(id).await?;
                Ok(true)
            }

            pub(crate) async fn set_device_state(&self, id: &str, state: DeviceState) -> Result<bool> {
                // A state change ends any pending command (a decommissioned device gets none).
                let sql = $sql("UPDATE devices SET state = ?, pending_command = NULL WHERE id = ?");
                self.devices.forget(id);
                let done = sqlx::query(&sql)
                    .bind(state.as_str())
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                // Open connections of the device re-check it (serve.rs); every replica's next
                // request sees the new state (store/feed.rs).
                self.devices.state_changed(id);
                self.device_changed(id).await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn list_devices(&self, limit: i64, after: Option<&str>) -> Result<Vec<Device>> {
                let sql = format!("SELECT {DEVICE_COLS} FROM devices WHERE id > ? ORDER BY id LIMIT ?");
                let sql = $sql(&sql);
                let rows = sqlx::query(&sql)
                    .bind(after.unwrap_or(""))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(device_row).collect()
            }

            pub(crate) async fn count_devices(&self) -> Result<i64> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM devices")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get("n")?)
            }
        }
    };
}

pub(crate) use impl_devices;
