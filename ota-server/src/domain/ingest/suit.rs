//! [`SuitVerifier`]: the device's verifier (`device-verifier`) run over an uploaded bundle.

use device_verifier::flash::{FlashError, FlashRead};
use device_verifier::release::{
    bind_image, verify_envelope, ManifestPolicy, RollbackStore, SequenceCommit, StoreError,
};
use device_verifier::{ImagePolicy, TrustedKey, VerifyErrorKind as Kind};
use manifest::suit::Envelope;
use ota_protocol::ErrorCode;
use serde::Deserialize;

use super::{Bundle, ClassRef, Rejection, ReleaseVerifier, VerifiedBundle};
use crate::domain::{Patch, ReleaseFacts, Sha256};

/// Trusted keys (DER SubjectPublicKeyInfo) and the classes this server distributes to.
#[derive(Debug, Clone)]
pub struct SuitVerifier {
    pub image_keys: Vec<Vec<u8>>,
    pub manifest_keys: Vec<Vec<u8>>,
    pub threshold: usize,
    pub classes: Vec<ClassRef>,
}

/// The server's view of anti-rollback: the highest sequence stored for the class.
struct Floor(u64);

impl RollbackStore for Floor {
    fn sequence(&self) -> u64 {
        self.0
    }

    fn commit(&mut self, _commit: SequenceCommit) -> Result<(), StoreError> {
        Err(StoreError)
    }
}

/// The injected image reader, as the verifier's generic `FlashRead`.
struct Image<'a>(&'a mut dyn FlashRead);

impl FlashRead for Image<'_> {
    fn capacity(&self) -> u32 {
        self.0.capacity()
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.0.read(offset, buf)
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::of(data).0
}

fn keys(ders: &[Vec<u8>]) -> Vec<TrustedKey<'_>> {
    ders.iter().filter_map(|d| TrustedKey::from_spki(d)).collect()
}

fn envelope_rejection(kind: Kind) -> Rejection {
    let msg = format!("release manifest: {}", kind.as_str());
    match kind {
        Kind::Malformed(_) => Rejection::malformed(ErrorCode::ENVELOPE_MALFORMED, msg),
        Kind::UntrustedManifestKey => Rejection::verification(ErrorCode::MANIFEST_UNTRUSTED_KEY, msg),
        Kind::ThresholdNotMet => Rejection::verification(ErrorCode::MANIFEST_THRESHOLD_NOT_MET, msg),
        Kind::ManifestDigestMismatch => Rejection::verification(ErrorCode::MANIFEST_DIGEST_MISMATCH, msg),
        Kind::SequenceRollback => Rejection::conflict(ErrorCode::SEQUENCE_NOT_ABOVE_PREVIOUS, msg),
        Kind::WrongVendor | Kind::WrongClass => Rejection::verification(ErrorCode::UNKNOWN_DEVICE_CLASS, msg),
        _ => Rejection::verification(ErrorCode::MANIFEST_SIGNATURE_INVALID, msg),
    }
}

fn image_rejection(kind: Kind) -> Rejection {
    let msg = format!("image: {}", kind.as_str());
    match kind {
        Kind::ImageDigestMismatch => Rejection::verification(ErrorCode::IMAGE_DIGEST_MISMATCH, msg),
        Kind::ImageSizeMismatch | Kind::ExceedsSlot => Rejection::verification(ErrorCode::IMAGE_SIZE_MISMATCH, msg),
        Kind::UntrustedKey
        | Kind::MissingKey
        | Kind::MissingSignature
        | Kind::BadSignature
        | Kind::SignatureKindMismatch
        | Kind::BadPureFlag
        | Kind::HashMismatch => Rejection::verification(ErrorCode::IMAGE_SIGNATURE_INVALID, msg),
        _ => Rejection::verification(ErrorCode::IMAGE_MALFORMED, msg),
    }
}

/// The fields of `release.json` the server cross-checks.
#[derive(Debug, Deserialize)]
struct Summary {
    sequence: u64,
    #[serde(default)]
    version: Option<String>,
    envelope: FileRef,
    image: FileRef,
}

#[derive(Debug, Deserialize)]
struct FileRef {
    size: u64,
    sha256: String,
}

impl FileRef {
    fn matches(&self, digest: &Sha256, size: u64) -> bool {
        self.size == size && self.sha256.eq_ignore_ascii_case(&digest.hex())
    }
}

impl ReleaseVerifier for SuitVerifier {
    fn class_of(&self, envelope: &[u8]) -> Result<ClassRef, Rejection> {
        let env = Envelope::decode(envelope)
            .map_err(|e| Rejection::malformed(ErrorCode::ENVELOPE_MALFORMED, format!("release.suit: {e:?}")))?;
        let manifest = env.manifest(&sha256).map_err(|e| {
            Rejection::malformed(ErrorCode::ENVELOPE_MALFORMED, format!("release.suit manifest: {e:?}"))
        })?;
        let common = manifest.common();
        self.classes
            .iter()
            .find(|c| &c.class_id == common.class_id() && &c.vendor_id == common.vendor_id())
            .cloned()
            .ok_or_else(|| {
                Rejection::verification(
                    ErrorCode::UNKNOWN_DEVICE_CLASS,
                    format!(
                        "class {} is not configured on this server",
                        uuid::Uuid::from_bytes(*common.class_id())
                    ),
                )
            })
    }

    fn verify(
        &self,
        bundle: &Bundle,
        class: &ClassRef,
        floor: u64,
        reader: &mut dyn FlashRead,
    ) -> Result<VerifiedBundle, Rejection> {
        let manifest_keys = keys(&self.manifest_keys);
        let policy = ManifestPolicy {
            trusted_keys: &manifest_keys,
            threshold: self.threshold,
            vendor_id: class.vendor_id,
            class_id: class.class_id,
        };
        let release =
            verify_envelope(&bundle.envelope, &policy, &Floor(floor)).map_err(|e| envelope_rejection(e.kind))?;

        // docs/FORMATS.md, "Sequence number": the profile's range (the store's signed columns).
        if release.sequence() > manifest::suit::MAX_SEQUENCE {
            return Err(Rejection::verification(
                ErrorCode::SEQUENCE_OUT_OF_RANGE,
                format!(
                    "sequence number {} is above {} (2^63 - 1)",
                    release.sequence(),
                    manifest::suit::MAX_SEQUENCE
                ),
            ));
        }
        // Cheap checks first, from the hash taken while staging.
        let image = &bundle.image;
        if image.size != release.image_size() {
            return Err(Rejection::verification(
                ErrorCode::IMAGE_SIZE_MISMATCH,
                format!("image is {} bytes, manifest says {}", image.size, release.image_size()),
            ));
        }
        if &image.digest.0 != release.image_digest() {
            return Err(Rejection::verification(
                ErrorCode::IMAGE_DIGEST_MISMATCH,
                "image SHA-256 differs from the manifest's image-digest",
            ));
        }
        // The device's own binding: digest and size again, then the MCUboot signature.
        u32::try_from(image.size)
            .map_err(|_| Rejection::verification(ErrorCode::IMAGE_SIZE_MISMATCH, "image larger than 4 GiB"))?;
        let image_keys = keys(&self.image_keys);
        let image_policy = ImagePolicy {
            trusted_keys: &image_keys,
            security_counter_floor: None,
        };
        let mut buf = vec![0u8; 16 * 1024];
        bind_image(&release, &mut Image(reader), &image_policy, &mut buf).map_err(|e| image_rejection(e.kind))?;

        // Every patch the manifest allows must be uploaded, and nothing else.
        let mut patches = Vec::new();
        let mut used = vec![false; bundle.patches.len()];
        for delta in release.deltas() {
            let digest: [u8; 32] = delta.patch_digest.bytes.as_slice().try_into().map_err(|_| {
                Rejection::verification(ErrorCode::PATCH_DIGEST_MISMATCH, "patch digest is not SHA-256")
            })?;
            let base: [u8; 32] = delta.precursor_digest.bytes.as_slice().try_into().map_err(|_| {
                Rejection::verification(ErrorCode::PATCH_DIGEST_MISMATCH, "precursor digest is not SHA-256")
            })?;
            let found = bundle.patches.iter().position(|p| p.digest.0 == digest);
            let Some(i) = found else {
                return Err(Rejection::verification(
                    ErrorCode::PATCH_MISSING,
                    format!(
                        "patch {} named by the manifest was not uploaded (or its digest differs)",
                        delta.uri
                    ),
                ));
            };
            let staged = &bundle.patches[i];
            if staged.size != delta.patch_size {
                return Err(Rejection::verification(
                    ErrorCode::PATCH_SIZE_MISMATCH,
                    format!(
                        "patch {} is {} bytes, manifest says {}",
                        staged.name, staged.size, delta.patch_size
                    ),
                ));
            }
            used[i] = true;
            patches.push(Patch {
                format: delta.format.0,
                base_digest: Sha256(base),
                base_size: delta.precursor_size,
                digest: Sha256(digest),
                size: delta.patch_size,
            });
        }
        if let Some(i) = used.iter().position(|u| !u) {
            return Err(Rejection::verification(
                ErrorCode::UNEXPECTED_ARTIFACT,
                format!("{} is not named by the manifest", bundle.patches[i].name),
            ));
        }

        let envelope_digest = Sha256::of(&bundle.envelope);
        let envelope_size = bundle.envelope.len() as u64;
        let mut version = release.text().and_then(|t| t.version).map(str::to_owned);
        if let Some(json) = &bundle.summary {
            let summary: Summary = serde_json::from_slice(json)
                .map_err(|e| Rejection::malformed(ErrorCode::SUMMARY_MALFORMED, format!("release.json: {e}")))?;
            if summary.sequence != release.sequence()
                || !summary.image.matches(&image.digest, image.size)
                || !summary.envelope.matches(&envelope_digest, envelope_size)
            {
                return Err(Rejection::verification(
                    ErrorCode::SUMMARY_MISMATCH,
                    "release.json disagrees with the envelope or the uploaded files",
                ));
            }
            if version.is_none() {
                version = summary.version;
            }
        }
        Ok(VerifiedBundle::new(ReleaseFacts {
            class_name: class.name.clone(),
            class_id: class.class_id_string(),
            sequence: release.sequence(),
            version: version.unwrap_or_default(),
            envelope_digest,
            envelope_size,
            image_digest: image.digest,
            image_size: image.size,
            patches,
        }))
    }
}
