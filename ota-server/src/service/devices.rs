//! Operator actions on devices (tags, revoke, decommission), each audited with its outcome, and
//! the device reads, which first commit the check-ins written behind (read-your-writes).

use ota_protocol::ErrorCode;

use super::{audit, Caller};
use crate::domain::auth::Role;
use crate::domain::certificates::{normalize_serial, DeviceCertificate, CERTIFICATES_LISTED};
use crate::domain::{normalize_tags, Device, DeviceState, Millis, SharedClock, FACTORY_RESET, TAGS_RULE};
use crate::store::batch::CheckinWriter;
use crate::store::{DeviceEvent, SharedStore, StoreError};
use crate::tls::valid_device_id;

/// Why a device request failed.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The caller's role does not include this one.
    #[error("requires role {}", .0.as_str())]
    InsufficientRole(Role),
    #[error("no such device")]
    NotFound,
    #[error("{}", TAGS_RULE)]
    InvalidTags,
    /// The class is not one the server is configured for.
    #[error("class {0:?} is not configured on this server")]
    UnknownClass(String),
    #[error("a certificate serial is 1–40 hex digits")]
    InvalidSerial,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DeviceError {
    /// The stable error code (also the audit record's result).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InsufficientRole(_) => ErrorCode::INSUFFICIENT_ROLE,
            Self::NotFound => ErrorCode::DEVICE_NOT_FOUND,
            Self::InvalidTags => ErrorCode::INVALID_TAGS,
            Self::UnknownClass(_) => ErrorCode::UNKNOWN_DEVICE_CLASS,
            Self::InvalidSerial => ErrorCode::INVALID_SERIAL,
            Self::Store(StoreError::Conflict(code)) => code.clone(),
            Self::Store(_) => ErrorCode::INTERNAL,
        }
    }
}

/// Rows of each kind an export holds at most.
const EXPORT_MAX_ROWS: i64 = 10_000;

/// What [`DeviceService::export`] gathers.
#[derive(Debug)]
pub struct DeviceExportData {
    pub exported_ms: Millis,
    pub device: Device,
    pub events: Vec<DeviceEvent>,
    pub certificates: Vec<DeviceCertificate>,
    pub audit: Vec<crate::store::AuditRecord>,
}

/// The device workflows. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DeviceService {
    pub store: SharedStore,
    /// The classes this server serves (`[[classes]]`).
    pub classes: std::sync::Arc<Vec<crate::domain::ingest::ClassRef>>,
    /// Check-ins and status reports written behind.
    pub checkins: CheckinWriter,
    pub clock: SharedClock,
    /// Dropped on every revocation, so the next CRL lists it.
    pub crl_cache: std::sync::Arc<super::enrollment::CrlCache>,
}

impl DeviceService {
    /// A device's certificates (issued by the enrolment CA, or revoked by serial), newest first.
    pub async fn certificates(&self, id: &str) -> Result<Vec<DeviceCertificate>, DeviceError> {
        if !valid_device_id(id) || self.store.device(id).await?.is_none() {
            return Err(DeviceError::NotFound);
        }
        Ok(self.store.device_certificates(id, CERTIFICATES_LISTED).await?)
    }

    /// Revokes one certificate of a device by serial (admin): requests made with it are refused
    /// from the next one on and its open connections close, while the device's other
    /// certificates keep working; the CRL lists it if the enrolment CA issued it. Audited as
    /// `certificate.revoke`. Revoking an already revoked serial changes nothing.
    pub async fn revoke_certificate(
        &self,
        caller: &Caller,
        id: &str,
        serial: &str,
    ) -> Result<DeviceCertificate, DeviceError> {
        let result = async {
            caller.require(Role::Admin).map_err(DeviceError::InsufficientRole)?;
            let serial = normalize_serial(serial).ok_or(DeviceError::InvalidSerial)?;
            if !valid_device_id(id) || self.store.device(id).await?.is_none() {
                return Err(DeviceError::NotFound);
            }
            let reason = format!("by {}", caller.actor);
            self.store
                .revoke_certificates(id, Some(&serial), &reason, self.clock.now_ms())
                .await?;
            self.crl_cache.invalidate();
            self.store
                .device_certificate(id, &serial)
                .await?
                .ok_or(DeviceError::NotFound)
        }
        .await;
        let target = format!(
            "device:{id}/certificate:{}",
            normalize_serial(serial).unwrap_or_default()
        );
        self.audit_target(caller, "certificate.revoke", &target, &result).await;
        result
    }

    /// A page of devices after `after` (by id).
    pub async fn list(&self, limit: i64, after: Option<&str>) -> Result<Vec<Device>, DeviceError> {
        // Read-your-writes: check-ins written behind are committed first.
        self.checkins.flush().await?;
        Ok(self.store.list_devices(limit, after).await?)
    }

    /// A device and its newest 100 events.
    pub async fn show(&self, id: &str) -> Result<(Device, Vec<DeviceEvent>), DeviceError> {
        self.checkins.flush().await?;
        let device = self.store.device(id).await?.ok_or(DeviceError::NotFound)?;
        let events = self.store.device_events(id, 100).await?;
        Ok((device, events))
    }

    /// Replaces a device's tags (release-manager); audited as `device.tags`.
    pub async fn set_tags(&self, caller: &Caller, id: &str, tags: Vec<String>) -> Result<Device, DeviceError> {
        let result = async {
            caller
                .require(Role::ReleaseManager)
                .map_err(DeviceError::InsufficientRole)?;
            if !valid_device_id(id) {
                return Err(DeviceError::NotFound);
            }
            let tags = normalize_tags(tags).ok_or(DeviceError::InvalidTags)?;
            if !self.store.set_device_tags(id, &tags).await? {
                return Err(DeviceError::NotFound);
            }
            self.store.device(id).await?.ok_or(DeviceError::NotFound)
        }
        .await;
        self.audit(caller, "device.tags", id, &result).await;
        result
    }

    /// Assigns a device's class (release-manager), registering the device if it is new: with
    /// its certificate, the only source of a class (a device never chooses its own); audited
    /// as `device.class`.
    pub async fn set_class(&self, caller: &Caller, id: &str, class: &str) -> Result<Device, DeviceError> {
        let result = async {
            caller
                .require(Role::ReleaseManager)
                .map_err(DeviceError::InsufficientRole)?;
            if !valid_device_id(id) {
                return Err(DeviceError::NotFound);
            }
            if !self.classes.iter().any(|c| c.name == class) {
                return Err(DeviceError::UnknownClass(class.to_owned()));
            }
            self.store.set_device_class(id, class, self.clock.now_ms()).await?;
            self.store.device(id).await?.ok_or(DeviceError::NotFound)
        }
        .await;
        self.audit(caller, "device.class", id, &result).await;
        result
    }

    /// Revoke (admin): the device is refused from its next request on; audited as
    /// `device.revoke`. A decommissioned device stays decommissioned.
    pub async fn revoke(&self, caller: &Caller, id: &str) -> Result<Device, DeviceError> {
        self.set_state(caller, id, DeviceState::Revoked, "device.revoke").await
    }

    /// Decommission (admin), history kept. `immediate`: revoked and marked retired at once
    /// (audited as `device.decommission`). Otherwise `factory_reset` waits for the device's next
    /// check-in, which completes the decommissioning ([`DeviceService::deliver_factory_reset`];
    /// audited as `device.decommission.requested`, then `device.decommission`).
    pub async fn decommission(&self, caller: &Caller, id: &str, immediate: bool) -> Result<Device, DeviceError> {
        // A revoked device never checks in again: nothing could deliver the command.
        let active = valid_device_id(id)
            && self
                .store
                .device(id)
                .await?
                .is_some_and(|d| d.state == DeviceState::Active);
        if immediate || !active {
            return self
                .set_state(caller, id, DeviceState::Decommissioned, "device.decommission")
                .await;
        }
        let result = async {
            caller.require(Role::Admin).map_err(DeviceError::InsufficientRole)?;
            self.store.set_pending_command(id, Some(FACTORY_RESET)).await?;
            self.store.device(id).await?.ok_or(DeviceError::NotFound)
        }
        .await;
        self.audit(caller, "device.decommission.requested", id, &result).await;
        result
    }

    /// The device's check-in was answered with its pending `factory_reset`: it is
    /// decommissioned now and its certificates revoked.
    /// Several check-ins answered before it ran decommission the device once.
    pub async fn deliver_factory_reset(&self, id: &str) -> Result<(), DeviceError> {
        let server = Caller {
            actor: "server (factory_reset delivered)".into(),
            role: Role::Admin,
        };
        let result = async {
            if !self.store.claim_factory_reset(id).await? {
                return Ok(None);
            }
            self.after_state_change(&server, id, DeviceState::Decommissioned)
                .await
                .map(Some)
        }
        .await;
        if !matches!(result, Ok(None)) {
            self.audit(&server, "device.decommission", id, &result).await;
        }
        result.map(drop)
    }

    /// Everything held of a device (admin); audited as `device.export`.
    pub async fn export(&self, caller: &Caller, id: &str) -> Result<DeviceExportData, DeviceError> {
        let result = async {
            caller.require(Role::Admin).map_err(DeviceError::InsufficientRole)?;
            self.checkins.flush().await?;
            if !valid_device_id(id) {
                return Err(DeviceError::NotFound);
            }
            let device = self.store.device(id).await?.ok_or(DeviceError::NotFound)?;
            let events = self.store.device_events(id, EXPORT_MAX_ROWS).await?;
            let certificates = self.store.device_certificates(id, EXPORT_MAX_ROWS).await?;
            let audit = self.store.audit_for(&format!("device:{id}"), EXPORT_MAX_ROWS).await?;
            Ok(DeviceExportData {
                exported_ms: self.clock.now_ms(),
                device,
                events,
                certificates,
                audit,
            })
        }
        .await;
        self.audit(caller, "device.export", id, &result).await;
        result
    }

    async fn set_state(&self, caller: &Caller, id: &str, to: DeviceState, action: &str) -> Result<Device, DeviceError> {
        let result = self.set_state_unaudited(caller, id, to).await;
        self.audit(caller, action, id, &result).await;
        result
    }

    async fn set_state_unaudited(&self, caller: &Caller, id: &str, to: DeviceState) -> Result<Device, DeviceError> {
        caller.require(Role::Admin).map_err(DeviceError::InsufficientRole)?;
        if !valid_device_id(id) {
            return Err(DeviceError::NotFound);
        }
        let device = self.store.device(id).await?.ok_or(DeviceError::NotFound)?;
        if device.state == DeviceState::Decommissioned && to == DeviceState::Revoked {
            return Ok(device);
        }
        self.store.set_device_state(id, to).await?;
        self.after_state_change(caller, id, to).await
    }

    /// What follows a revocation or decommissioning: certificates revoked, history recorded.
    async fn after_state_change(&self, caller: &Caller, id: &str, to: DeviceState) -> Result<Device, DeviceError> {
        // Its certificates go into the CRL, for the services that trust them too.
        self.store
            .revoke_certificates(id, None, to.as_str(), self.clock.now_ms())
            .await?;
        self.crl_cache.invalidate();
        // Status reports are written behind: store them first, so the history stays in order.
        self.checkins.flush().await?;
        let event = DeviceEvent {
            at_ms: self.clock.now_ms(),
            status: to.as_str().to_owned(),
            release_id: None,
            reason: Some(format!("by {}", caller.actor)),
        };
        self.store.record_event(id, &event).await?;
        self.store.device(id).await?.ok_or(DeviceError::NotFound)
    }

    async fn audit<T>(&self, caller: &Caller, action: &str, id: &str, result: &Result<T, DeviceError>) {
        self.audit_target(caller, action, &format!("device:{id}"), result).await;
    }

    async fn audit_target<T>(&self, caller: &Caller, action: &str, target: &str, result: &Result<T, DeviceError>) {
        let outcome = match result {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("error:{}", e.code()),
        };
        audit(&self.store, &self.clock, &caller.actor, action, target, &outcome).await;
    }
}
