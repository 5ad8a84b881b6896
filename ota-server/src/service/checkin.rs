//! Device traffic: who a device is (looked up, or registered on first contact), its check-ins
//! (class, write-behind record, offer decision) and its status reports.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt as _;
use ota_protocol::device::{CheckinRequest, StatusReport};

use crate::artifacts::ArtifactStore;
use crate::config::OfferMode;
use crate::domain::certificates::serial_revoked;
use crate::domain::ingest::ClassRef;
use crate::domain::offer::{nothing_newer, NoUpdateReason, Offer, OfferPolicy, Running};
use crate::domain::registration::{decide_registration, RegistrationList, RegistrationPolicy, RegistrationRefusal};
use crate::domain::{Device, DeviceState, Millis, Patch, Release, Sha256, SharedClock};
use crate::metrics::Metrics;
use crate::service::rollouts::{RolloutError, RolloutService};
use crate::store::batch::CheckinWriter;
use crate::store::cache::LatestReleases;
use crate::store::{CheckinRecord, DeviceEvent, SharedStore, StoreError};
use crate::tls::DeviceIdentity;

/// Why a device request failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckinError {
    #[error("device is revoked")]
    Revoked,
    #[error("device is decommissioned")]
    Decommissioned,
    /// The client certificate's serial is revoked (the device's other certificates may work).
    #[error("this client certificate is revoked")]
    CertificateRevoked,
    /// `running.digest` is not 64 hex digits.
    #[error("running.digest must be 64 hex digits")]
    InvalidDigest,
    /// `running.sequence` does not fit the store.
    #[error("sequence out of range")]
    InvalidSequence,
    /// The certificate names a class this server is not configured for.
    #[error("the device certificate names class {0:?}, which this server does not serve")]
    UnknownClass(String),
    /// Neither the certificate nor an operator gave the device a class.
    #[error(
        "the device has no class: its certificate names none (subject OU) and no operator assigned one \
         (PUT /api/v1/admin/devices/{{id}}/class)"
    )]
    ClassRequired,
    /// The check-in names another class than the device's.
    #[error("the check-in names class {named:?}, but the device is of class {class:?}")]
    ClassMismatch { named: String, class: String },
    /// The device id is on the registration deny list.
    #[error("the device is on the registration deny list")]
    Denied,
    /// The class admits allow-listed devices only.
    #[error(
        "class {0:?} registers only allow-listed devices, and this one is not listed \
         (POST /api/v1/admin/registration/allow)"
    )]
    NotAllowed(String),
    #[error(transparent)]
    Rollout(#[from] RolloutError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

fn internal(e: impl std::fmt::Display) -> CheckinError {
    CheckinError::Internal(e.to_string())
}

/// What a check-in answers.
#[derive(Debug)]
pub enum CheckinAnswer {
    NoUpdate(NoUpdateReason),
    /// An offer of `release` (with `patch` from the running image, if any) and its envelope.
    Update {
        release: Box<Release>,
        patch: Option<Patch>,
        envelope: Arc<[u8]>,
    },
}

/// The device workflows. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CheckinService {
    pub store: SharedStore,
    pub artifacts: Arc<dyn ArtifactStore>,
    /// The policy used when `offer_mode = "latest"`.
    pub offer: Arc<dyn OfferPolicy>,
    pub offer_mode: OfferMode,
    pub rollouts: Arc<RolloutService>,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub classes: Arc<Vec<ClassRef>>,
    /// Each class's registration policy (`[[classes]] registration`; open when unset).
    pub registration: Arc<HashMap<String, RegistrationPolicy>>,
    pub checkins: CheckinWriter,
    pub latest: Arc<LatestReleases>,
    /// A certificate replaced by re-enrolment still works this long after its successor was
    /// first used (`[enrollment] rotation_grace_s`).
    pub rotation_grace_ms: Millis,
    /// Envelopes are small and sent on every offer: kept in memory by digest.
    pub envelopes: Arc<Mutex<HashMap<Sha256, Arc<[u8]>>>>,
}

impl CheckinService {
    fn class_known(&self, name: &str) -> bool {
        self.classes.iter().any(|c| c.name == name)
    }

    /// The active device `ident` names, registered on first contact.
    pub async fn device(&self, ident: &DeviceIdentity) -> Result<Device, CheckinError> {
        // A certificate naming a class this server does not serve is refused before anything is
        // stored: the class comes from the certificate or an operator, never from the device.
        if let Some(class) = ident.class.as_deref().filter(|c| !self.class_known(c)) {
            return Err(CheckinError::UnknownClass(class.to_owned()));
        }
        let device = match self.store.device(&ident.id).await? {
            Some(d) => d,
            None => {
                let class = self.registration_class(ident).await?;
                let d = self
                    .store
                    .register_device(&ident.id, class.as_deref(), self.clock.now_ms())
                    .await?;
                self.metrics.inc("ota_devices_registered_total", &[]);
                tracing::info!(device = %ident.id, "device registered on first contact");
                d
            }
        };
        match device.state {
            DeviceState::Active => {}
            DeviceState::Revoked => return Err(CheckinError::Revoked),
            DeviceState::Decommissioned => return Err(CheckinError::Decommissioned),
        }
        let Some(cert) = ident.certificate.as_ref() else {
            return Ok(device);
        };
        let now = self.clock.now_ms();
        // Revocation per certificate: this one may be revoked while the device's others work.
        if serial_revoked(&device.revoked_serials, &cert.serial, now) {
            return Err(CheckinError::CertificateRevoked);
        }
        // Another certificate than the last one used, and not one already being retired: a
        // rotation's first use revokes the old certificate after the grace window (one store
        // transaction per certificate; none for the old one during its grace window).
        if device.current_serial.as_deref() != Some(cert.serial.as_str())
            && !device.revoked_serials.iter().any(|r| r.serial == cert.serial)
            && self
                .store
                .certificate_used(&device.id, &cert.serial, now, self.rotation_grace_ms)
                .await?
        {
            return Ok(self.store.device(&device.id).await?.unwrap_or(device));
        }
        Ok(device)
    }

    /// The registration policy at first contact (issue 16): the class the device registers
    /// in, or why it may not. Refusals are counted, never stored (a refused device leaves no row).
    async fn registration_class(&self, ident: &DeviceIdentity) -> Result<Option<String>, CheckinError> {
        let denied = self
            .store
            .registration_entry(RegistrationList::Deny, &ident.id)
            .await?
            .is_some();
        let policy = |c: &str| self.registration.get(c).copied().unwrap_or_default();
        let any_allowlist = self.registration.values().any(|p| *p == RegistrationPolicy::Allowlist);
        // The allow list is read only where it can matter.
        let needs_allow = ident
            .class
            .as_deref()
            .is_none_or(|c| policy(c) == RegistrationPolicy::Allowlist);
        let allowed = if needs_allow && !denied {
            self.store
                .registration_entry(RegistrationList::Allow, &ident.id)
                .await?
        } else {
            None
        };
        decide_registration(policy, any_allowlist, ident.class.as_deref(), allowed.as_ref(), denied).map_err(
            |refusal| {
                let (result, error) = match refusal {
                    RegistrationRefusal::Denied => ("denied", CheckinError::Denied),
                    RegistrationRefusal::NotAllowed { class } => ("not_allowed", CheckinError::NotAllowed(class)),
                };
                self.metrics
                    .inc("ota_registrations_refused_total", &[("reason", result)]);
                tracing::warn!(device = %ident.id, reason = result, "first contact refused by the registration policy");
                error
            },
        )
    }

    /// A check-in at `now` of `device` (whose certificate names `cert_class`, if any).
    pub async fn checkin(
        &self,
        device: &Device,
        cert_class: Option<String>,
        req: CheckinRequest,
        now: Millis,
    ) -> Result<CheckinAnswer, CheckinError> {
        let digest = Sha256::parse_hex(&req.running.digest).ok_or(CheckinError::InvalidDigest)?;
        let running = Running {
            digest,
            version: req.running.version.filter(|v| v.len() <= 64),
            sequence: req.running.sequence,
        };
        if i64::try_from(running.sequence).is_err() {
            return Err(CheckinError::InvalidSequence);
        }
        // The device's class: an operator's assignment or the certificate's (checked against
        // the configured classes in `device`). The request may repeat it, never choose it.
        let class = device
            .class_with(cert_class.as_deref())
            .ok_or(CheckinError::ClassRequired)?
            .to_owned();
        if let Some(named) = req.class.filter(|named| *named != class) {
            return Err(CheckinError::ClassMismatch { named, class });
        }
        if device.checkin_changes(&running, &class, now) {
            let record = CheckinRecord {
                id: device.id.clone(),
                class: Some(class.clone()),
                running: running.clone(),
                now,
            };
            if device.class.is_none() {
                // The first class a device gets decides what it is offered: durable before the answer.
                self.checkins.record_durable(record).await?;
            } else {
                // Last seen / running image: written behind (see `store::batch`).
                self.checkins.record(record).await?;
            }
        }
        let offer = match self.offer_mode {
            OfferMode::Rollout => self.rollouts.offer(device, &class, &running, now).await?,
            OfferMode::Latest => {
                let latest = self.latest.get(self.store.as_ref(), &class, now).await?;
                self.offer.decide(device, &running, latest.as_deref(), now)
            }
        };
        let offer = match offer {
            // No rollout of anything newer: tell "runs the newest" from "newer, not rolled out".
            Offer::NoUpdate(reason) if reason == NoUpdateReason::NO_ROLLOUT => {
                let latest = self.latest.get(self.store.as_ref(), &class, now).await?;
                Offer::NoUpdate(nothing_newer(latest.as_deref(), &running).unwrap_or(reason))
            }
            other => other,
        };
        match offer {
            Offer::NoUpdate(reason) => {
                self.metrics.inc(
                    "ota_checkins_total",
                    &[("result", "no_update"), ("reason", reason.as_str())],
                );
                Ok(CheckinAnswer::NoUpdate(reason))
            }
            Offer::Update { release, patch } => {
                self.metrics.inc("ota_checkins_total", &[("result", "offered")]);
                let envelope = self.envelope_bytes(&release).await?;
                Ok(CheckinAnswer::Update {
                    release,
                    patch,
                    envelope,
                })
            }
        }
    }

    /// Records a status report of `device_id` (history written behind) and moves its rollout
    /// records forward.
    pub async fn report(&self, device_id: &str, report: &StatusReport) -> Result<(), CheckinError> {
        let event = DeviceEvent {
            at_ms: self.clock.now_ms(),
            status: report.name().to_owned(),
            release_id: report.release_id(),
            reason: report.reason().map(str::to_owned),
        };
        let at_ms = event.at_ms;
        // History is written behind, like check-ins (admin reads flush first).
        self.checkins.record_event(device_id, event).await?;
        self.rollouts.report(device_id, report, at_ms).await?;
        self.metrics
            .inc("ota_status_reports_total", &[("status", report.name())]);
        Ok(())
    }

    async fn envelope_bytes(&self, release: &Release) -> Result<Arc<[u8]>, CheckinError> {
        if let Some(b) = self
            .envelopes
            .lock()
            .ok()
            .and_then(|m| m.get(&release.facts.envelope_digest).cloned())
        {
            return Ok(b);
        }
        let mut stream = self
            .artifacts
            .get_range(&release.facts.envelope_digest, 0, release.facts.envelope_size)
            .await
            .map_err(internal)?;
        let mut bytes = Vec::with_capacity(usize::try_from(release.facts.envelope_size).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.map_err(internal)?);
        }
        if Sha256::of(&bytes) != release.facts.envelope_digest {
            return Err(internal("stored envelope digest mismatch"));
        }
        let bytes: Arc<[u8]> = bytes.into();
        if let Ok(mut m) = self.envelopes.lock() {
            if m.len() > 1024 {
                m.clear();
            }
            m.insert(release.facts.envelope_digest, bytes.clone());
        }
        Ok(bytes)
    }
}
