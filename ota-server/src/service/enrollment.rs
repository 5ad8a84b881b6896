//! Device enrolment (EST, RFC 7030 subset) and the CRL:
//!
//! * `cacerts` (§4.1): the issuing CA certificate;
//! * `simpleenroll` (§4.2.1): a device without an operational certificate presents a one-time
//!   enrolment token an operator created for its id; the certificate names that id and class,
//!   whatever the request's subject says;
//! * `simplereenroll` (§4.2.2): a device authenticated by its current certificate gets a new one
//!   for the same identity and a new key;
//! * the CRL (RFC 5280 §5) of revoked certificates the CA issued, for other services.
//!
//! Every request's proof of possession is checked (`ca::check_csr`); every issued certificate
//! is stored and audited.

use std::sync::{Arc, Mutex};

use rand_core::{OsRng, RngCore as _};

use super::audit;
use super::checkin::{CheckinError, CheckinService};
use super::Caller;
use crate::ca::{self, CheckedCsr, CsrError, IssuingCa, RevokedSerial};
use crate::domain::auth::{hash_token, Role};
use crate::domain::certificates::{
    DeviceCertificate, EnrollmentGrant, ENROLLMENT_TOKEN_DEFAULT_S, ENROLLMENT_TOKEN_MAX_S,
};
use crate::domain::registration::RegistrationList;
use crate::domain::{DeviceState, Millis, SharedClock};
use crate::metrics::Metrics;
use crate::store::{SharedStore, StoreError};
use crate::tls::{valid_device_id, DeviceIdentity};

/// Enrolment tokens start with this (admin tokens with `ota_`), so a leaked one is recognisable.
pub const ENROLLMENT_TOKEN_PREFIX: &str = "ota-enrol_";

/// A CRL is re-made at most this often (and at once after a revocation on this replica).
const CRL_REUSE_MS: Millis = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("enrolment is not configured on this server ([enrollment] in ota-server.toml)")]
    Disabled,
    #[error("the enrolment token is unknown, used or expired")]
    TokenInvalid,
    #[error(transparent)]
    Csr(#[from] CsrError),
    /// RFC 7030 §4.2.2: a re-enrolment request names the same subject as the current certificate.
    #[error("the request names subject {0:?}, but the certificate being renewed names another device")]
    SubjectMismatch(String),
    #[error("the request carries the current certificate's key; re-enrolment needs a new key")]
    KeyReused,
    #[error("requires role {}", .0.as_str())]
    InsufficientRole(Role),
    #[error("device id {0:?} is not valid (1–128 characters of A-Z a-z 0-9 . _ : -)")]
    InvalidDeviceId(String),
    #[error("class {0:?} is not configured on this server")]
    UnknownClass(String),
    #[error("expires_in_seconds must be 1 to {ENROLLMENT_TOKEN_MAX_S}")]
    InvalidExpiry,
    /// The device as it stands may not enrol (revoked, decommissioned, deny-listed).
    #[error(transparent)]
    Device(#[from] CheckinError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// The last CRL made, shared with the device service (which drops it on a revocation).
#[derive(Debug, Default)]
pub struct CrlCache {
    made: Mutex<Option<(Millis, Arc<[u8]>)>>,
}

impl CrlCache {
    pub fn invalidate(&self) {
        if let Ok(mut m) = self.made.lock() {
            *m = None;
        }
    }
}

/// The enrolment workflows. Cheap to clone.
#[derive(Debug, Clone)]
pub struct EnrollmentService {
    pub store: SharedStore,
    pub ca: Option<Arc<IssuingCa>>,
    pub checkin: CheckinService,
    pub clock: SharedClock,
    pub metrics: Arc<Metrics>,
    pub crl_cache: Arc<CrlCache>,
    pub crl_next_update_s: u64,
}

/// A new enrolment token: the secret (shown once) and when it expires.
#[derive(Debug)]
pub struct NewEnrollmentToken {
    pub token: String,
    pub expires_ms: Millis,
}

impl EnrollmentService {
    fn ca(&self) -> Result<&IssuingCa, EnrollError> {
        self.ca.as_deref().ok_or(EnrollError::Disabled)
    }

    fn count(&self, op: &str, result: &str) {
        self.metrics
            .inc("ota_est_requests_total", &[("operation", op), ("result", result)]);
    }

    /// `cacerts`: the issuing CA certificate, CMS certs-only DER.
    pub fn cacerts(&self) -> Result<Vec<u8>, EnrollError> {
        let ca = self.ca()?;
        ca::certs_only(&[ca.cert_der()]).map_err(|e| EnrollError::Internal(e.to_string()))
    }

    /// An operator's one-time enrolment token for `grant` (admin); audited as `enrollment.token`.
    pub async fn create_token(
        &self,
        caller: &Caller,
        grant: EnrollmentGrant,
        expires_in_s: Option<u64>,
    ) -> Result<NewEnrollmentToken, EnrollError> {
        let result = async {
            caller.require(Role::Admin).map_err(EnrollError::InsufficientRole)?;
            self.ca()?;
            if !valid_device_id(&grant.device_id) {
                return Err(EnrollError::InvalidDeviceId(grant.device_id.clone()));
            }
            if let Some(c) = grant
                .class
                .as_deref()
                .filter(|c| !self.checkin.classes.iter().any(|k| k.name == *c))
            {
                return Err(EnrollError::UnknownClass(c.to_owned()));
            }
            let lifetime = expires_in_s.unwrap_or(ENROLLMENT_TOKEN_DEFAULT_S);
            if lifetime == 0 || lifetime > ENROLLMENT_TOKEN_MAX_S {
                return Err(EnrollError::InvalidExpiry);
            }
            let mut secret = [0u8; 32];
            OsRng.fill_bytes(&mut secret);
            let token = format!("{ENROLLMENT_TOKEN_PREFIX}{}", hex::encode(secret));
            let now = self.clock.now_ms();
            let expires_ms = now.saturating_add(Millis::try_from(lifetime).unwrap_or(0).saturating_mul(1000));
            self.store
                .insert_enrollment_token(&hash_token(&token).hex(), &grant, now, expires_ms, &caller.actor)
                .await?;
            Ok(NewEnrollmentToken { token, expires_ms })
        }
        .await;
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("error:{e}"),
        };
        let target = format!("device:{}", grant.device_id);
        audit(
            &self.store,
            &self.clock,
            &caller.actor,
            "enrollment.token",
            &target,
            &outcome,
        )
        .await;
        result
    }

    /// `simpleenroll` with a one-time token: the issued certificate, CMS certs-only DER.
    pub async fn simple_enroll(&self, token: &str, csr_der: &[u8]) -> Result<Vec<u8>, EnrollError> {
        let result = async {
            let ca = self.ca()?;
            // The request is checked before the token is used, so a malformed one costs nothing.
            let csr = ca::check_csr(csr_der)?;
            let now = self.clock.now_ms();
            let grant = self
                .store
                .consume_enrollment_token(&hash_token(token.trim()).hex(), now)
                .await?
                .ok_or(EnrollError::TokenInvalid)?;
            // The token is an operator's say-so for this id, but not past a revocation or the
            // deny list (a recalled unit does not come back by enrolling again).
            let known = self.store.device(&grant.device_id).await?;
            if let Some(d) = &known {
                match d.state {
                    DeviceState::Active => {}
                    DeviceState::Revoked => return Err(CheckinError::Revoked.into()),
                    DeviceState::Decommissioned => return Err(CheckinError::Decommissioned.into()),
                }
            }
            if self
                .store
                .registration_entry(RegistrationList::Deny, &grant.device_id)
                .await?
                .is_some()
            {
                return Err(CheckinError::Denied.into());
            }
            let class = grant.class.clone().or_else(|| known.and_then(|d| d.class));
            self.issue(ca, &csr, &grant.device_id, class.as_deref(), None, now)
                .await
        }
        .await;
        self.finish("simpleenroll", result).await
    }

    /// `simplereenroll`: a new certificate for the device `ident` names, for a new key.
    pub async fn simple_reenroll(&self, ident: &DeviceIdentity, csr_der: &[u8]) -> Result<Vec<u8>, EnrollError> {
        let result = async {
            let ca = self.ca()?;
            // Active, and this certificate not revoked: the same check as every device request.
            let device = self.checkin.device(ident).await?;
            // A certificate already replaced (in its grace window) or revoked from a later time
            // may not renew: its holder could otherwise mint successors that outlive it.
            if ident
                .certificate
                .as_ref()
                .is_some_and(|c| device.revoked_serials.iter().any(|r| r.serial == c.serial))
            {
                return Err(CheckinError::CertificateRevoked.into());
            }
            let csr = ca::check_csr(csr_der)?;
            if let Some(cn) = csr.common_name.as_deref().filter(|cn| *cn != ident.id) {
                return Err(EnrollError::SubjectMismatch(cn.to_owned()));
            }
            if ident
                .certificate
                .as_ref()
                .is_some_and(|c| c.spki_der.as_slice() == csr.public_key())
            {
                return Err(EnrollError::KeyReused);
            }
            let class = device.class_with(ident.class.as_deref()).map(str::to_owned);
            // The current certificate is replaced once the new one has been used (rotation).
            let replaces = ident.certificate.as_ref().map(|c| c.serial.clone());
            self.issue(ca, &csr, &ident.id, class.as_deref(), replaces, self.clock.now_ms())
                .await
        }
        .await;
        self.finish("simplereenroll", result).await
    }

    async fn issue(
        &self,
        ca: &IssuingCa,
        csr: &CheckedCsr,
        id: &str,
        class: Option<&str>,
        replaces_serial: Option<String>,
        now: Millis,
    ) -> Result<(String, Vec<u8>), EnrollError> {
        let issued = ca
            .issue(csr, id, class, now)
            .map_err(|e| EnrollError::Internal(format!("issuing a certificate: {e}")))?;
        self.store
            .insert_certificate(&DeviceCertificate {
                serial: issued.serial.clone(),
                device_id: id.to_owned(),
                fingerprint: Some(issued.fingerprint.clone()),
                not_before_ms: Some(issued.not_before_ms),
                not_after_ms: Some(issued.not_after_ms),
                issued_ms: Some(now),
                revoked_ms: None,
                revoked_reason: None,
                replaces_serial,
                first_used_ms: None,
            })
            .await?;
        let body = ca::certs_only(&[&issued.der]).map_err(|e| EnrollError::Internal(e.to_string()))?;
        Ok((format!("device:{id}/certificate:{}", issued.serial), body))
    }

    /// Counts and audits an enrolment (as `certificate.issue`, the device as actor).
    async fn finish(&self, op: &str, result: Result<(String, Vec<u8>), EnrollError>) -> Result<Vec<u8>, EnrollError> {
        match result {
            Ok((target, body)) => {
                self.count(op, "issued");
                audit(
                    &self.store,
                    &self.clock,
                    &format!("est:{op}"),
                    "certificate.issue",
                    &target,
                    "ok",
                )
                .await;
                Ok(body)
            }
            Err(e) => {
                let result = match &e {
                    EnrollError::Disabled => "disabled",
                    EnrollError::TokenInvalid => "token_invalid",
                    EnrollError::Csr(CsrError::NoProofOfPossession) => "no_proof_of_possession",
                    EnrollError::Csr(_) => "csr_invalid",
                    EnrollError::SubjectMismatch(_) | EnrollError::KeyReused => "csr_refused",
                    EnrollError::Device(_) => "device_refused",
                    _ => "error",
                };
                self.count(op, result);
                Err(e)
            }
        }
    }

    /// The CRL, DER; re-made when older than a few seconds or after a local revocation.
    pub async fn crl(&self) -> Result<Arc<[u8]>, EnrollError> {
        let ca = self.ca()?;
        let now = self.clock.now_ms();
        if let Ok(made) = self.crl_cache.made.lock() {
            if let Some((at, crl)) = made.as_ref() {
                if now >= *at && now - *at < CRL_REUSE_MS {
                    return Ok(crl.clone());
                }
            }
        }
        let revoked: Vec<RevokedSerial> = self
            .store
            .revoked_issued_certificates(now)
            .await?
            .into_iter()
            .map(|c| RevokedSerial {
                revoked_ms: c.revoked_ms.unwrap_or(now),
                serial: c.serial,
            })
            .collect();
        let crl: Arc<[u8]> = ca
            .crl(&revoked, now, self.crl_next_update_s)
            .map_err(|e| EnrollError::Internal(format!("making the CRL: {e}")))?
            .into();
        if let Ok(mut made) = self.crl_cache.made.lock() {
            *made = Some((now, crl.clone()));
        }
        Ok(crl)
    }
}
