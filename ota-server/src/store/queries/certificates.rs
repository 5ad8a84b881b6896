//! Device certificates (issued, revoked by serial) and one-time enrolment tokens.

macro_rules! impl_certificates {
    ($ty:ty, $row:ty, $sql:path) => {
        use sqlx::Row as _;
        use $crate::domain::certificates::{DeviceCertificate, EnrollmentGrant};
        use $crate::domain::Millis;
        use $crate::store::Result;

        const CERT_COLS: &str =
            "serial, device_id, fingerprint, not_before_ms, not_after_ms, issued_ms, revoked_ms, revoked_reason, \
             replaces_serial, first_used_ms";

        fn certificate_row(r: &$row) -> Result<DeviceCertificate> {
            Ok(DeviceCertificate {
                serial: r.try_get("serial")?,
                device_id: r.try_get("device_id")?,
                fingerprint: r.try_get("fingerprint")?,
                not_before_ms: r.try_get("not_before_ms")?,
                not_after_ms: r.try_get("not_after_ms")?,
                issued_ms: r.try_get("issued_ms")?,
                revoked_ms: r.try_get("revoked_ms")?,
                revoked_reason: r.try_get("revoked_reason")?,
                replaces_serial: r.try_get("replaces_serial")?,
                first_used_ms: r.try_get("first_used_ms")?,
            })
        }

        impl $ty {
            pub(crate) async fn insert_certificate(&self, c: &DeviceCertificate) -> Result<()> {
                let text =
                    format!("INSERT INTO device_certificates ({CERT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
                let sql = $sql(&text);
                sqlx::query(&sql)
                    .bind(&c.serial)
                    .bind(&c.device_id)
                    .bind(&c.fingerprint)
                    .bind(c.not_before_ms)
                    .bind(c.not_after_ms)
                    .bind(c.issued_ms)
                    .bind(c.revoked_ms)
                    .bind(&c.revoked_reason)
                    .bind(&c.replaces_serial)
                    .bind(c.first_used_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn device_certificate(
                &self,
                device_id: &str,
                serial: &str,
            ) -> Result<Option<DeviceCertificate>> {
                let text = format!("SELECT {CERT_COLS} FROM device_certificates WHERE device_id = ? AND serial = ?");
                let sql = $sql(&text);
                let row = sqlx::query(&sql)
                    .bind(device_id)
                    .bind(serial)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(certificate_row).transpose()
            }

            pub(crate) async fn device_certificates(
                &self,
                device_id: &str,
                limit: i64,
            ) -> Result<Vec<DeviceCertificate>> {
                let text = format!(
                    "SELECT {CERT_COLS} FROM device_certificates WHERE device_id = ? \
                     ORDER BY COALESCE(issued_ms, revoked_ms, 0) DESC, serial LIMIT ?"
                );
                let sql = $sql(&text);
                let rows = sqlx::query(&sql)
                    .bind(device_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(certificate_row).collect()
            }

            /// Revokes `serial` of `device_id` (recording it if the server never saw it), or with
            /// `None` every unrevoked certificate of the device; returns how many were newly
            /// revoked. The device row's list of revoked serials is rewritten in the same
            /// transaction, and every replica drops the row before this returns.
            pub(crate) async fn revoke_certificates(
                &self,
                device_id: &str,
                serial: Option<&str>,
                reason: &str,
                now: Millis,
            ) -> Result<u64> {
                let mut tx = self.pool.begin().await?;
                Self::lock_device(&mut tx, device_id).await?;
                let revoked = Self::revoke_in(&mut tx, device_id, serial, reason, now).await?;
                Self::list_revoked_serials(&mut tx, device_id, now).await?;
                tx.commit().await?;
                // Open connections made with a revoked certificate close (serve.rs); every
                // replica's next request sees the list (store/feed.rs).
                self.devices.state_changed(device_id);
                self.device_changed(device_id).await?;
                Ok(revoked)
            }

            /// Takes the device row's write lock before anything is read, so that two revocations
            /// of one device (an operator's, a rotation's) cannot each rewrite `revoked_serials`
            /// from a list without the other's serial: a no-op UPDATE locks the row on
            /// PostgreSQL and takes the write lock at once on SQLite (no later lock upgrade).
            async fn lock_device(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                device_id: &str,
            ) -> Result<()> {
                let sql = $sql("UPDATE devices SET revoked_serials = revoked_serials WHERE id = ?");
                sqlx::query(&sql).bind(device_id).execute(&mut **tx).await?;
                Ok(())
            }

            /// Revokes `serial` (or every unrevoked certificate of the device) from `from_ms` on.
            async fn revoke_in(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                device_id: &str,
                serial: Option<&str>,
                reason: &str,
                from_ms: Millis,
            ) -> Result<u64> {
                let revoked = match serial {
                    Some(serial) => {
                        // Serials are unique per issuer only: a device's own serial is the key.
                        let sql = $sql(
                            "INSERT INTO device_certificates (serial, device_id, revoked_ms, revoked_reason) \
                             VALUES (?, ?, ?, ?) ON CONFLICT (device_id, serial) DO UPDATE \
                             SET revoked_ms = excluded.revoked_ms, revoked_reason = excluded.revoked_reason \
                             WHERE device_certificates.revoked_ms IS NULL \
                             OR device_certificates.revoked_ms > excluded.revoked_ms",
                        );
                        sqlx::query(&sql)
                            .bind(serial)
                            .bind(device_id)
                            .bind(from_ms)
                            .bind(reason)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected()
                    }
                    None => {
                        let sql = $sql(
                            "UPDATE device_certificates SET revoked_ms = ?, revoked_reason = ? \
                             WHERE device_id = ? AND (revoked_ms IS NULL OR revoked_ms > ?)",
                        );
                        sqlx::query(&sql)
                            .bind(from_ms)
                            .bind(reason)
                            .bind(device_id)
                            .bind(from_ms)
                            .execute(&mut **tx)
                            .await?
                            .rows_affected()
                    }
                };
                Ok(revoked)
            }

            /// Rewrites the device row's list of revoked serials (with the time each is refused
            /// from). Expired certificates need no listing: the TLS handshake refuses them.
            async fn list_revoked_serials(
                tx: &mut sqlx::Transaction<'_, <$row as sqlx::Row>::Database>,
                device_id: &str,
                now: Millis,
            ) -> Result<()> {
                let sql = $sql(
                    "SELECT serial, revoked_ms FROM device_certificates WHERE device_id = ? \
                     AND revoked_ms IS NOT NULL AND (not_after_ms IS NULL OR not_after_ms > ?) ORDER BY serial",
                );
                let rows = sqlx::query(&sql)
                    .bind(device_id)
                    .bind(now)
                    .fetch_all(&mut **tx)
                    .await?;
                let list = rows
                    .iter()
                    .map(|r| {
                        Ok($crate::domain::certificates::SerialRevocation {
                            serial: r.try_get("serial")?,
                            from_ms: r.try_get("revoked_ms")?,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                let sql = $sql("UPDATE devices SET revoked_serials = ? WHERE id = ?");
                sqlx::query(&sql)
                    .bind($crate::domain::certificates::format_serial_list(&list))
                    .bind(device_id)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// A device request made with certificate `serial`, which is not the device's
            /// current one. The first use of a certificate issued by re-enrolment makes it
            /// current and revokes the one it replaces from `now + grace_ms` on; any other
            /// certificate becomes current only if the device had none. Returns whether the
            /// device row changed.
            pub(crate) async fn certificate_used(
                &self,
                device_id: &str,
                serial: &str,
                now: Millis,
                grace_ms: Millis,
            ) -> Result<bool> {
                let mut tx = self.pool.begin().await?;
                Self::lock_device(&mut tx, device_id).await?;
                let sql = $sql(
                    "UPDATE device_certificates SET first_used_ms = ? \
                     WHERE serial = ? AND device_id = ? AND issued_ms IS NOT NULL AND first_used_ms IS NULL \
                     RETURNING replaces_serial",
                );
                let first_use: Option<Option<String>> = sqlx::query_scalar(&sql)
                    .bind(now)
                    .bind(serial)
                    .bind(device_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let changed = match first_use {
                    Some(replaced) => {
                        if let Some(old) = replaced.as_deref() {
                            let reason = format!("superseded by {serial}");
                            Self::revoke_in(
                                &mut tx,
                                device_id,
                                Some(old),
                                &reason,
                                now.saturating_add(grace_ms),
                            )
                            .await?;
                            Self::list_revoked_serials(&mut tx, device_id, now).await?;
                        }
                        let sql = $sql("UPDATE devices SET current_serial = ? WHERE id = ?");
                        sqlx::query(&sql)
                            .bind(serial)
                            .bind(device_id)
                            .execute(&mut *tx)
                            .await?;
                        true
                    }
                    None => {
                        let sql = $sql("UPDATE devices SET current_serial = ? WHERE id = ? AND current_serial IS NULL");
                        let done = sqlx::query(&sql)
                            .bind(serial)
                            .bind(device_id)
                            .execute(&mut *tx)
                            .await?;
                        done.rows_affected() > 0
                    }
                };
                tx.commit().await?;
                if changed {
                    self.devices.state_changed(device_id);
                    self.device_changed(device_id).await?;
                }
                Ok(changed)
            }

            /// Certificates the CA issued that are in use (not revoked) and expire before `until`.
            pub(crate) async fn count_expiring_certificates(&self, now: Millis, until: Millis) -> Result<i64> {
                let sql = $sql(
                    "SELECT COUNT(*) FROM device_certificates WHERE issued_ms IS NOT NULL \
                     AND (revoked_ms IS NULL OR revoked_ms > ?) AND not_after_ms > ? AND not_after_ms <= ?",
                );
                Ok(sqlx::query_scalar(&sql)
                    .bind(now)
                    .bind(now)
                    .bind(until)
                    .fetch_one(&self.pool)
                    .await?)
            }

            /// What the CRL lists: certificates this server's CA issued, revoked and not expired.
            pub(crate) async fn revoked_issued_certificates(&self, now: Millis) -> Result<Vec<DeviceCertificate>> {
                let text = format!(
                    "SELECT {CERT_COLS} FROM device_certificates WHERE issued_ms IS NOT NULL \
                     AND revoked_ms IS NOT NULL AND revoked_ms <= ? AND not_after_ms > ? ORDER BY serial"
                );
                let sql = $sql(&text);
                let rows = sqlx::query(&sql)
                    .bind(now)
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(certificate_row).collect()
            }

            pub(crate) async fn insert_enrollment_token(
                &self,
                token_hash: &str,
                grant: &EnrollmentGrant,
                created_ms: Millis,
                expires_ms: Millis,
                created_by: &str,
            ) -> Result<()> {
                let sql = $sql(
                    "INSERT INTO enrollment_tokens (token_hash, device_id, class, created_ms, expires_ms, created_by) \
                     VALUES (?, ?, ?, ?, ?, ?)",
                );
                sqlx::query(&sql)
                    .bind(token_hash)
                    .bind(&grant.device_id)
                    .bind(&grant.class)
                    .bind(created_ms)
                    .bind(expires_ms)
                    .bind(created_by)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Uses the token once: what it grants, or `None` (unknown, used or expired). Two
            /// requests racing with one token: exactly one gets the grant.
            pub(crate) async fn consume_enrollment_token(
                &self,
                token_hash: &str,
                now: Millis,
            ) -> Result<Option<EnrollmentGrant>> {
                let sql = $sql(
                    "UPDATE enrollment_tokens SET used_ms = ? \
                     WHERE token_hash = ? AND used_ms IS NULL AND expires_ms > ? RETURNING device_id, class",
                );
                let row = sqlx::query(&sql)
                    .bind(now)
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok(EnrollmentGrant {
                        device_id: r.try_get("device_id")?,
                        class: r.try_get("class")?,
                    })
                })
                .transpose()
            }
        }
    };
}

pub(crate) use impl_certificates;
