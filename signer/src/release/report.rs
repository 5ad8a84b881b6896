//! `release inspect` (structure, no trust) and `release verify` (the device's own checks).

use device_verifier::{
    bind_image, verify_envelope, ImagePolicy, ManifestPolicy, RollbackStore, SequenceCommit, SliceFlash, StoreError,
    TrustedKey, VerifiedRelease,
};
use manifest::suit::{CoseAlg, Envelope, Manifest};
use serde::Serialize;

use super::sha256;
use crate::error::Error;

/// A manifest's contents, for humans and `--json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ManifestReport {
    pub sequence: u64,
    pub vendor_id: String,
    pub class_id: String,
    pub image_sha256: String,
    pub image_size: u64,
    pub install_uri: Option<String>,
    pub reference_uri: Option<String>,
    pub version: Option<String>,
    pub notes: Option<String>,
    pub deltas: Vec<DeltaReport>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeltaReport {
    pub format: u64,
    pub precursor_sha256: String,
    pub precursor_size: u64,
    pub patch_sha256: String,
    pub patch_size: u64,
    pub uri: String,
}

impl ManifestReport {
    fn of(m: &Manifest<'_>) -> Self {
        let c = m.common();
        Self {
            sequence: m.sequence(),
            vendor_id: uuid::Uuid::from_bytes(*c.vendor_id()).to_string(),
            class_id: uuid::Uuid::from_bytes(*c.class_id()).to_string(),
            image_sha256: hex::encode(c.image_digest().bytes),
            image_size: c.image_size(),
            install_uri: m.install_uri().map(str::to_owned),
            reference_uri: m.reference_uri().map(str::to_owned),
            version: m.text().and_then(|t| t.version).map(str::to_owned),
            notes: m.text().and_then(|t| t.notes).map(str::to_owned),
            deltas: c
                .deltas()
                .map(|d| DeltaReport {
                    format: d.format.0,
                    precursor_sha256: hex::encode(d.precursor_digest.bytes),
                    precursor_size: d.precursor_size,
                    patch_sha256: hex::encode(d.patch_digest.bytes),
                    patch_size: d.patch_size,
                    uri: d.uri.to_owned(),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SignatureReport {
    pub alg: i64,
    pub alg_name: Option<&'static str>,
    pub kid: Option<String>,
}

/// What `release inspect` shows. Nothing here is authenticated.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct InspectReport {
    pub authenticated: bool,
    pub envelope_size: usize,
    pub manifest_digest_matches: bool,
    pub signatures: Vec<SignatureReport>,
    pub manifest: ManifestReport,
}

/// Decodes an envelope without checking signatures (never use this to decide what to trust).
///
/// Errors are [`ErrorKind::Input`](crate::ErrorKind::Input): the bytes are not a SUIT envelope
/// of the signer's profile.
pub fn inspect(envelope: &[u8]) -> Result<InspectReport, Error> {
    let malformed = |what: &str, e: &dyn std::fmt::Display| {
        Error::input(format!("malformed {what}: {e}")).with_hint("is this a release.suit written by `signer release`?")
    };
    let env = Envelope::decode(envelope).map_err(|e| malformed("envelope", &e))?;
    let signatures = env
        .signatures()
        .map(|s| {
            let s = s.map_err(|e| malformed("signature block", &e))?;
            Ok(SignatureReport {
                alg: s.alg.0,
                alg_name: CoseAlg(s.alg.0).name(),
                kid: s.kid.map(hex::encode),
            })
        })
        .collect::<Result<_, Error>>()?;
    let manifest = env.manifest(&sha256).map_err(|e| malformed("manifest", &e))?;
    Ok(InspectReport {
        authenticated: false,
        envelope_size: envelope.len(),
        manifest_digest_matches: sha256(env.manifest_bstr()) == *env.digest().bytes,
        signatures,
        manifest: ManifestReport::of(&manifest),
    })
}

/// What `release verify` shows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub verified: bool,
    /// Whether vendor and class were checked against an expected identity (else taken from the
    /// manifest itself).
    pub identity_checked: bool,
    pub signer_key_sha256: Vec<String>,
    pub manifest: ManifestReport,
    /// Set when an image was bound to the release (digest, size and its MCUboot signature).
    pub image_bound: Option<bool>,
}

struct Floor(u64);

impl RollbackStore for Floor {
    fn sequence(&self) -> u64 {
        self.0
    }

    fn commit(&mut self, _: SequenceCommit) -> Result<(), StoreError> {
        Err(StoreError)
    }
}

fn trusted_keys(spkis: &[Vec<u8>]) -> Result<Vec<TrustedKey<'_>>, Error> {
    spkis
        .iter()
        .map(|s| TrustedKey::from_spki(s).ok_or_else(|| Error::key("trusted key is not an Ed25519 or P-256 SPKI")))
        .collect()
}

/// Runs the device's [`verify_envelope`]. `identity` = (vendor-id, class-id); `None` takes them
/// from the (unauthenticated) manifest, i.e. checks signatures only. An envelope the device would
/// refuse is [`ErrorKind::Invalid`](crate::ErrorKind::Invalid).
pub fn verify_envelope_with<'e>(
    envelope: &'e [u8],
    spkis: &[Vec<u8>],
    threshold: usize,
    identity: Option<(uuid::Uuid, uuid::Uuid)>,
    floor: u64,
) -> Result<(VerifiedRelease<'e>, Vec<String>), Error> {
    let keys = trusted_keys(spkis)?;
    let (vendor, class) = match identity {
        Some(ids) => ids,
        None => {
            let report = inspect(envelope)?.manifest;
            let parse = |id: &str| {
                id.parse::<uuid::Uuid>()
                    .map_err(|e| Error::internal(format!("cannot read back identifier {id}: {e}")))
            };
            (parse(&report.vendor_id)?, parse(&report.class_id)?)
        }
    };
    let mut policy = ManifestPolicy::new(&keys, *vendor.as_bytes(), *class.as_bytes());
    policy.threshold = threshold;
    let release = verify_envelope(envelope, &policy, &Floor(floor)).map_err(|e| Error::invalid(e.to_string()))?;
    let signers = release
        .signer_key_indices()
        .iter()
        .filter_map(|i| spkis.get(*i))
        .map(|s| hex::encode(sha256(s)))
        .collect();
    Ok((release, signers))
}

/// Verifies an envelope as a device would, and optionally binds an image file to it (its digest
/// and size, and its MCUboot signature under `image_spkis`).
pub fn verify(
    envelope: &[u8],
    spkis: &[Vec<u8>],
    threshold: usize,
    identity: Option<(uuid::Uuid, uuid::Uuid)>,
    image: Option<(&[u8], &[Vec<u8>])>,
) -> Result<VerifyReport, Error> {
    let (release, signer_key_sha256) = verify_envelope_with(envelope, spkis, threshold, identity, 0)?;
    let image_bound = match image {
        None => None,
        Some((bytes, image_spkis)) => {
            let keys = trusted_keys(image_spkis)?;
            let policy = ImagePolicy {
                trusted_keys: &keys,
                security_counter_floor: None,
            };
            let mut buf = vec![0u8; 4096];
            bind_image(&release, &mut SliceFlash::new(bytes), &policy, &mut buf).map_err(|e| {
                Error::invalid(format!("binding the image: image does not belong to this release: {e}"))
            })?;
            Some(true)
        }
    };
    Ok(VerifyReport {
        verified: true,
        identity_checked: identity.is_some(),
        signer_key_sha256,
        manifest: ManifestReport::of(release.manifest()),
        image_bound,
    })
}
