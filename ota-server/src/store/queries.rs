//! The SQL both backends share, written once with `?` placeholders (PostgreSQL's are rewritten
//! to `$n`). Each area's file expands its queries as inherent methods of a backend's store type;
//! [`impl_store!`] expands them all and the [`Store`](super::Store) trait over them.

mod audit;
mod certificates;
mod checkins;
mod devices;
mod downloads;
mod registration;
mod releases;
mod rollouts;
mod tokens;

use std::borrow::Cow;

pub(crate) use {
    audit::impl_audit, certificates::impl_certificates, checkins::impl_checkins, devices::impl_devices,
    downloads::impl_downloads, registration::impl_registration, releases::impl_releases, rollouts::impl_rollouts,
    tokens::impl_tokens,
};

use super::{Result, StoreError};

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
     running_version, running_sequence, last_status, tags, revoked_serials, current_serial, pending_command";
pub(crate) const RELEASE_COLS: &str = "id, class_name, class_id, sequence, version, envelope_digest, \
     envelope_size, image_digest, image_size, created_ms, uploaded_by";

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(format!("serialising: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored document: {e}")))
}

/// `impl_store!(StoreType, RowType, "backend", same | dollar)`: the queries of every area as
/// inherent methods of `StoreType` (which has `pool` and `devices` fields), and `Store` over them.
macro_rules! impl_store {
    ($ty:ident, $row:ty, $backend:literal, $sql:ident) => {
        mod audit {
            $crate::store::queries::impl_audit!(super::$ty, $row, $crate::store::queries::$sql);
        }
        mod checkins {
            $crate::store::queries::impl_checkins!(super::$ty, $row, $crate::store::queries::$sql);
        }
        mod devices {
            $crate::store::queries::impl_devices!(super::$ty, $row, $crate::store::queries::$sql);
        }
        mod downloads {
            $crate::store::queries::impl_downloads!(super::$ty, $row, $crate::store::queries::$sql);
        }
        mod registration {
            $crate::store::queries::impl_registration!(super::$ty, $row, $crate::store::queries::$sql);
        }
        mod certificates {
            $crate::store::queries::impl_certificates!(super::$ty, $row, $crate::store::queries::$sql);
        }
        mod releases {
            $crate::store::queries::impl_releases!(super::$ty, $row, $crate::store::queries::$sql);
        }
        mod rollouts {
            $crate::store::queries::impl_rollouts!(super::$ty, $row, $backend, $crate::store::queries::$sql);
        }
        mod tokens {
            $crate::store::queries::impl_tokens!(super::$ty, $row, $crate::store::queries::$sql);
        }

        mod store_impl {
            use super::$ty;
            use $crate::domain::auth::{Role, TokenRecord};
            use $crate::domain::ingest::VerifiedBundle;
            use $crate::domain::registration::{RegistrationEntry, RegistrationList};
            use $crate::domain::rollout::{DeviceRecord, DeviceStage, Rollout};
            use $crate::domain::{Device, DeviceState, Millis, Release, Sha256};
            use $crate::store::{
                AuditRecord, CheckinRecord, ClassDevice, DeviceEvent, RecordChange, Reservation, Result, RolloutRow,
                VersionCount,
            };

            // Each method calls the inherent method of the same name (inherent methods win).
            #[async_trait::async_trait]
            impl $crate::store::Store for $ty {
                fn backend(&self) -> &'static str {
                    $backend
                }
                async fn device(&self, id: &str) -> Result<Option<Device>> {
                    $ty::device(self, id).await
                }
                async fn register_device(&self, id: &str, class: Option<&str>, now: Millis) -> Result<Device> {
                    $ty::register_device(self, id, class, now).await
                }
                async fn register_devices(&self, ids: &[String], class: &str, now: Millis) -> Result<()> {
                    $ty::register_devices(self, ids, class, now).await
                }
                async fn record_checkins(&self, batch: &[CheckinRecord]) -> Result<()> {
                    $ty::record_checkins(self, batch).await
                }
                async fn set_device_class(&self, id: &str, class: &str, now: Millis) -> Result<()> {
                    $ty::set_device_class(self, id, class, now).await
                }
                async fn set_device_tags(&self, id: &str, tags: &[String]) -> Result<bool> {
                    $ty::set_device_tags(self, id, tags).await
                }
                async fn claim_factory_reset(&self, id: &str) -> Result<bool> {
                    $ty::claim_factory_reset(self, id).await
                }
                async fn set_pending_command(&self, id: &str, command: Option<&str>) -> Result<bool> {
                    $ty::set_pending_command(self, id, command).await
                }
                async fn audit_for(&self, target: &str, limit: i64) -> Result<Vec<AuditRecord>> {
                    $ty::audit_for(self, target, limit).await
                }
                async fn set_device_state(&self, id: &str, state: DeviceState) -> Result<bool> {
                    $ty::set_device_state(self, id, state).await
                }
                async fn list_devices(&self, limit: i64, after: Option<&str>) -> Result<Vec<Device>> {
                    $ty::list_devices(self, limit, after).await
                }
                async fn count_devices(&self) -> Result<i64> {
                    $ty::count_devices(self).await
                }
                async fn record_event(&self, id: &str, event: &DeviceEvent) -> Result<()> {
                    $ty::record_event(self, id, event).await
                }
                async fn record_events(&self, events: &[(String, DeviceEvent)]) -> Result<()> {
                    $ty::record_events(self, events).await
                }
                async fn device_events(&self, id: &str, limit: i64) -> Result<Vec<DeviceEvent>> {
                    $ty::device_events(self, id, limit).await
                }
                async fn prune_device_events(&self, keep_per_device: i64, before_ms: Millis) -> Result<u64> {
                    $ty::prune_device_events(self, keep_per_device, before_ms).await
                }
                async fn max_sequence(&self, class_id: &str) -> Result<u64> {
                    $ty::max_sequence(self, class_id).await
                }
                async fn insert_release(&self, release: &VerifiedBundle, by: &str, now: Millis) -> Result<Release> {
                    $ty::insert_release(self, release, by, now).await
                }
                async fn latest_release(&self, class_name: &str) -> Result<Option<Release>> {
                    $ty::latest_release(self, class_name).await
                }
                async fn release(&self, id: i64) -> Result<Option<Release>> {
                    $ty::release(self, id).await
                }
                async fn list_releases(&self) -> Result<Vec<Release>> {
                    $ty::list_releases(self).await
                }
                async fn artifact_known(&self, digest: &Sha256, class: Option<&str>) -> Result<bool> {
                    $ty::artifact_known(self, digest, class).await
                }
                async fn record_download(
                    &self,
                    device_id: &str,
                    digest: &Sha256,
                    size: u64,
                    start: u64,
                    end: u64,
                    now: Millis,
                ) -> Result<()> {
                    $ty::record_download(self, device_id, digest, size, start, end, now).await
                }
                async fn fetched_release(&self, device_id: &str, release_id: i64) -> Result<bool> {
                    $ty::fetched_release(self, device_id, release_id).await
                }
                async fn prune_downloads(&self, before_ms: Millis) -> Result<u64> {
                    $ty::prune_downloads(self, before_ms).await
                }
                async fn add_registration_entries(
                    &self,
                    list: RegistrationList,
                    entries: &[RegistrationEntry],
                ) -> Result<u64> {
                    $ty::add_registration_entries(self, list, entries).await
                }
                async fn remove_registration_entry(&self, list: RegistrationList, device_id: &str) -> Result<bool> {
                    $ty::remove_registration_entry(self, list, device_id).await
                }
                async fn insert_certificate(&self, c: &$crate::domain::certificates::DeviceCertificate) -> Result<()> {
                    $ty::insert_certificate(self, c).await
                }
                async fn device_certificate(
                    &self,
                    device_id: &str,
                    serial: &str,
                ) -> Result<Option<$crate::domain::certificates::DeviceCertificate>> {
                    $ty::device_certificate(self, device_id, serial).await
                }
                async fn device_certificates(
                    &self,
                    device_id: &str,
                    limit: i64,
                ) -> Result<Vec<$crate::domain::certificates::DeviceCertificate>> {
                    $ty::device_certificates(self, device_id, limit).await
                }
                async fn revoke_certificates(
                    &self,
                    device_id: &str,
                    serial: Option<&str>,
                    reason: &str,
                    now: Millis,
                ) -> Result<u64> {
                    $ty::revoke_certificates(self, device_id, serial, reason, now).await
                }
                async fn count_expiring_certificates(&self, now: Millis, until: Millis) -> Result<i64> {
                    $ty::count_expiring_certificates(self, now, until).await
                }
                async fn certificate_used(
                    &self,
                    device_id: &str,
                    serial: &str,
                    now: Millis,
                    grace_ms: Millis,
                ) -> Result<bool> {
                    $ty::certificate_used(self, device_id, serial, now, grace_ms).await
                }
                async fn revoked_issued_certificates(
                    &self,
                    now: Millis,
                ) -> Result<Vec<$crate::domain::certificates::DeviceCertificate>> {
                    $ty::revoked_issued_certificates(self, now).await
                }
                async fn insert_enrollment_token(
                    &self,
                    token_hash: &str,
                    grant: &$crate::domain::certificates::EnrollmentGrant,
                    created_ms: Millis,
                    expires_ms: Millis,
                    created_by: &str,
                ) -> Result<()> {
                    $ty::insert_enrollment_token(self, token_hash, grant, created_ms, expires_ms, created_by).await
                }
                async fn consume_enrollment_token(
                    &self,
                    token_hash: &str,
                    now: Millis,
                ) -> Result<Option<$crate::domain::certificates::EnrollmentGrant>> {
                    $ty::consume_enrollment_token(self, token_hash, now).await
                }
                async fn registration_entry(
                    &self,
                    list: RegistrationList,
                    device_id: &str,
                ) -> Result<Option<RegistrationEntry>> {
                    $ty::registration_entry(self, list, device_id).await
                }
                async fn list_registration_entries(
                    &self,
                    list: RegistrationList,
                    limit: i64,
                    after: Option<&str>,
                ) -> Result<Vec<RegistrationEntry>> {
                    $ty::list_registration_entries(self, list, limit, after).await
                }
                async fn insert_rollout(
                    &self,
                    release_id: i64,
                    name: &str,
                    rollout: &Rollout,
                    now: Millis,
                ) -> Result<i64> {
                    $ty::insert_rollout(self, release_id, name, rollout, now).await
                }
                async fn list_rollouts(&self) -> Result<Vec<RolloutRow>> {
                    $ty::list_rollouts(self).await
                }
                async fn rollout(&self, id: i64) -> Result<Option<RolloutRow>> {
                    $ty::rollout(self, id).await
                }
                async fn rollout_versions(&self) -> Result<Vec<(i64, i64)>> {
                    $ty::rollout_versions(self).await
                }
                async fn update_rollout(&self, id: i64, expected: i64, rollout: &Rollout, now: Millis) -> Result<bool> {
                    $ty::update_rollout(self, id, expected, rollout, now).await
                }
                async fn rollout_devices(&self, rollout_id: i64) -> Result<Vec<DeviceRecord>> {
                    $ty::rollout_devices(self, rollout_id).await
                }
                async fn rollout_counts(
                    &self,
                    rollout_id: i64,
                    penalty_after: u32,
                ) -> Result<Vec<(usize, DeviceStage, u32, u32)>> {
                    $ty::rollout_counts(self, rollout_id, penalty_after).await
                }
                async fn device_records(
                    &self,
                    device_id: &str,
                    rollout_ids: &[i64],
                ) -> Result<Vec<(i64, DeviceRecord)>> {
                    $ty::device_records(self, device_id, rollout_ids).await
                }
                async fn reserve_offer(
                    &self,
                    rollout_id: i64,
                    version: i64,
                    record: &DeviceRecord,
                    max_in_flight: u32,
                ) -> Result<Reservation> {
                    $ty::reserve_offer(self, rollout_id, version, record, max_in_flight).await
                }
                async fn apply_record_events(&self, events: &[RecordChange]) -> Result<()> {
                    $ty::apply_record_events(self, events).await
                }
                async fn suspicious_devices(&self, rollout_id: i64, limit: i64) -> Result<Vec<(String, u32)>> {
                    $ty::suspicious_devices(self, rollout_id, limit).await
                }
                async fn stalled_devices(&self, rollout_id: i64, before: Millis) -> Result<Vec<String>> {
                    $ty::stalled_devices(self, rollout_id, before).await
                }
                async fn class_devices(&self, class: &str) -> Result<Vec<ClassDevice>> {
                    $ty::class_devices(self, class).await
                }
                async fn fleet_versions(&self) -> Result<Vec<VersionCount>> {
                    $ty::fleet_versions(self).await
                }
                async fn insert_token(
                    &self,
                    name: &str,
                    role: Role,
                    hash: &Sha256,
                    now: Millis,
                    expires_ms: Option<Millis>,
                ) -> Result<TokenRecord> {
                    $ty::insert_token(self, name, role, hash, now, expires_ms).await
                }
                async fn token_by_hash(&self, hash: &Sha256) -> Result<Option<TokenRecord>> {
                    $ty::token_by_hash(self, hash).await
                }
                async fn list_tokens(&self) -> Result<Vec<TokenRecord>> {
                    $ty::list_tokens(self).await
                }
                async fn revoke_token(&self, id: i64, now: Millis) -> Result<Option<TokenRecord>> {
                    $ty::revoke_token(self, id, now).await
                }
                async fn touch_token(&self, id: i64, now: Millis) -> Result<()> {
                    $ty::touch_token(self, id, now).await
                }
                async fn count_tokens(&self) -> Result<i64> {
                    $ty::count_tokens(self).await
                }
                async fn append_audit(&self, record: &AuditRecord) -> Result<()> {
                    $ty::append_audit(self, record).await
                }
                async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>> {
                    $ty::audit_log(self, limit).await
                }
                async fn announce_rollout(&self, id: i64) -> Result<()> {
                    $ty::announce(self, &format!("rollout:{id}")).await
                }
                fn rollout_changes(&self) -> Option<tokio::sync::broadcast::Receiver<String>> {
                    $ty::changes(self)
                }
                fn device_state_changes(&self) -> tokio::sync::broadcast::Receiver<String> {
                    self.devices.subscribe_state_changes()
                }
                async fn close(&self) {
                    $ty::close_feed(self).await;
                    self.pool.close().await;
                }
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
