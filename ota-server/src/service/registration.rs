//! The registration lists (issue 16): operators register device ids ahead (allow) or refuse
//! them (deny). Putting a registered device on the deny list revokes it at once, through the
//! same audited path as `POST /api/v1/admin/devices/{id}/revoke`. Decisions at first contact
//! are [`crate::domain::registration::decide_registration`]'s, taken in
//! [`super::checkin::CheckinService::device`].

use ota_protocol::admin::{NewRegistrationEntry, MAX_REGISTRATION_ENTRIES};
use ota_protocol::ErrorCode;

use super::devices::{DeviceError, DeviceService};
use super::{audit, Caller};
use crate::domain::auth::Role;
use crate::domain::registration::{RegistrationEntry, RegistrationList};
use crate::domain::DeviceState;
use crate::store::StoreError;
use crate::tls::valid_device_id;

/// Longest note on an entry.
pub const MAX_NOTE_CHARS: usize = 256;

/// Why a registration-list request failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("requires role {}", .0.as_str())]
    InsufficientRole(Role),
    #[error("{0}")]
    Invalid(String),
    #[error("that device id is not on the list")]
    NotFound,
    #[error(transparent)]
    Device(#[from] DeviceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RegistrationError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InsufficientRole(_) => ErrorCode::INSUFFICIENT_ROLE,
            Self::Invalid(_) => ErrorCode::INVALID_REGISTRATION_ENTRY,
            Self::NotFound => ErrorCode::REGISTRATION_ENTRY_NOT_FOUND,
            Self::Device(e) => e.code(),
            Self::Store(StoreError::Conflict(code)) => code.clone(),
            Self::Store(_) => ErrorCode::INTERNAL,
        }
    }
}

/// What [`RegistrationService::add`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Added {
    pub added: u64,
    /// Registered devices revoked because they were put on the deny list.
    pub revoked: Vec<String>,
}

/// The registration-list workflows. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RegistrationService {
    pub devices: DeviceService,
}

impl RegistrationService {
    /// Adds entries (admin; all or none: every entry is checked first). Audited as
    /// `registration.{allow,deny}.add`.
    pub async fn add(
        &self,
        caller: &Caller,
        list: RegistrationList,
        entries: Vec<NewRegistrationEntry>,
    ) -> Result<Added, RegistrationError> {
        let result = self.add_checked(caller, list, entries).await;
        let outcome = match &result {
            Ok(a) => format!("ok:added={},revoked={}", a.added, a.revoked.len()),
            Err(e) => format!("error:{}", e.code()),
        };
        self.audit(caller, &format!("registration.{}.add", list.as_str()), &outcome)
            .await;
        result
    }

    async fn add_checked(
        &self,
        caller: &Caller,
        list: RegistrationList,
        entries: Vec<NewRegistrationEntry>,
    ) -> Result<Added, RegistrationError> {
        caller
            .require(Role::Admin)
            .map_err(RegistrationError::InsufficientRole)?;
        if entries.is_empty() || entries.len() > MAX_REGISTRATION_ENTRIES {
            return Err(RegistrationError::Invalid(format!(
                "give 1 to {MAX_REGISTRATION_ENTRIES} entries at once (got {})",
                entries.len()
            )));
        }
        let now = self.devices.clock.now_ms();
        let mut checked = Vec::with_capacity(entries.len());
        for e in entries {
            checked.push(self.entry(caller, list, e, now)?);
        }
        let added = self.devices.store.add_registration_entries(list, &checked).await?;
        let mut revoked = Vec::new();
        if list == RegistrationList::Deny {
            // A recalled or stolen unit that is already registered is refused from now on.
            for e in &checked {
                let active = matches!(
                    self.devices.store.device(&e.device_id).await?,
                    Some(d) if d.state == DeviceState::Active
                );
                if active {
                    self.devices.revoke(caller, &e.device_id).await?;
                    revoked.push(e.device_id.clone());
                }
            }
        }
        Ok(Added { added, revoked })
    }

    fn entry(
        &self,
        caller: &Caller,
        list: RegistrationList,
        e: NewRegistrationEntry,
        now: crate::domain::Millis,
    ) -> Result<RegistrationEntry, RegistrationError> {
        let invalid = |why: String| Err(RegistrationError::Invalid(why));
        if !valid_device_id(&e.device_id) {
            return invalid(format!(
                "device id {:?} is not 1-128 of A-Z a-z 0-9 . _ : -",
                e.device_id
            ));
        }
        if let Some(class) = &e.class {
            if list == RegistrationList::Deny {
                return invalid("a deny-list entry has no class".into());
            }
            if !self.devices.classes.iter().any(|c| &c.name == class) {
                return invalid(format!("class {class:?} is not configured on this server"));
            }
        }
        let note = e.note.unwrap_or_default();
        if note.chars().count() > MAX_NOTE_CHARS || note.chars().any(char::is_control) {
            return invalid(format!(
                "a note is at most {MAX_NOTE_CHARS} characters, without control characters"
            ));
        }
        Ok(RegistrationEntry {
            device_id: e.device_id,
            class: e.class,
            note,
            created_ms: now,
            created_by: caller.actor.clone(),
        })
    }

    /// Removes an entry (admin). Audited as `registration.{allow,deny}.remove`. Taking a device
    /// off the deny list does not reinstate it: a revoked device stays revoked.
    pub async fn remove(
        &self,
        caller: &Caller,
        list: RegistrationList,
        device_id: &str,
    ) -> Result<(), RegistrationError> {
        let result = async {
            caller
                .require(Role::Admin)
                .map_err(RegistrationError::InsufficientRole)?;
            if !self.devices.store.remove_registration_entry(list, device_id).await? {
                return Err(RegistrationError::NotFound);
            }
            Ok(())
        }
        .await;
        let outcome = match &result {
            Ok(()) => format!("ok:{device_id}"),
            Err(e) => format!("error:{}:{device_id}", e.code()),
        };
        self.audit(caller, &format!("registration.{}.remove", list.as_str()), &outcome)
            .await;
        result
    }

    /// A page of a list, in device-id order (viewer).
    pub async fn list(
        &self,
        list: RegistrationList,
        limit: i64,
        after: Option<&str>,
    ) -> Result<Vec<RegistrationEntry>, RegistrationError> {
        Ok(self
            .devices
            .store
            .list_registration_entries(list, limit.clamp(1, 1000), after)
            .await?)
    }

    async fn audit(&self, caller: &Caller, action: &str, outcome: &str) {
        audit(
            &self.devices.store,
            &self.devices.clock,
            &caller.actor,
            action,
            "registration",
            outcome,
        )
        .await;
    }
}
