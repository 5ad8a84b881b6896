//! Release bundles: a signed SUIT envelope (our profile, `docs/FORMATS.md`) plus the image it
//! names, any delta patches, and a `release.json` summary.
//!
//! [`build_release`] makes the envelope with `manifest`'s [`EnvelopeBuilder`] (manifest,
//! SUIT_Digest, one COSE_Sign1 per signer), then re-verifies it with the device's own verifier
//! before returning it.

pub mod bundle;
pub mod cli;
pub mod report;
pub mod sign;
pub mod state;

use manifest::image::ImageView;
use manifest::suit::encode::{BuildError, DeltaFields, EnvelopeBuilder, ManifestFields, TextFields};
pub use manifest::suit::{class_ids, ClassIds};
use manifest::suit::{CoseAlg, DeltaFormat};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, ErrorKind};

pub use bundle::ReleaseBundle;
pub use sign::CoseSigner;

/// A delta patch offered with the release (RFC 9124 REQ.SEC.AUTH.PRECURSOR: bound to its precursor's digest).
#[derive(Debug, Clone)]
pub struct DeltaRef {
    /// Patch format id ([`DeltaFormat`]).
    pub format: u64,
    /// The complete signed image the patch applies to.
    pub precursor_image: Vec<u8>,
    /// The patch file.
    pub patch: Vec<u8>,
    /// File name in the bundle; also the (relative) URI in the manifest.
    pub file_name: String,
}

/// What a release is made from.
#[derive(Debug, Clone)]
pub struct ReleaseInput {
    /// The signed MCUboot image (a padded slot image is cut to its signed part).
    pub image: Vec<u8>,
    /// File name of the image in the bundle.
    pub image_name: String,
    /// Where devices fetch the image; defaults to `image_name` (relative to the envelope).
    pub image_uri: Option<String>,
    /// Anti-rollback sequence number (≥ 1: a fresh device stores 0).
    pub sequence: u64,
    /// Vendor DNS name; vendor-id = UUIDv5(NAMESPACE_DNS, name) as in the draft's examples.
    pub vendor_domain: String,
    /// Device class name; class-id = UUIDv5(vendor-id, name).
    pub class_name: String,
    pub version: String,
    pub notes: String,
    pub deltas: Vec<DeltaRef>,
}

/// The vendor id of a DNS name, as a UUID: [`class_ids`]'s `vendor_id` (the one derivation the
/// signer, the server and the devices share, docs/FORMATS.md "SUIT profile", Identifiers).
pub fn vendor_uuid(domain: &str) -> uuid::Uuid {
    uuid::Uuid::from_bytes(class_ids(domain, "").vendor_id)
}

/// Vendor id and class id of a vendor domain and class name, as UUIDs ([`class_ids`]).
pub fn class_uuids(vendor_domain: &str, class_name: &str) -> (uuid::Uuid, uuid::Uuid) {
    let ids = class_ids(vendor_domain, class_name);
    (
        uuid::Uuid::from_bytes(ids.vendor_id),
        uuid::Uuid::from_bytes(ids.class_id),
    )
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// The builder refuses only what `build_release` rules out before it asks a key (signer count,
/// algorithms): a bug if it happens.
fn build_error(e: BuildError) -> Error {
    Error::internal(format!("cannot build the envelope: {e}"))
}

/// One signature in the summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SignatureSummary {
    pub alg: String,
    /// SHA-256 of the signer's DER SPKI (the same key-hash MCUboot's KEYHASH uses).
    pub key_sha256: String,
}

/// The signed part of an MCUboot image file: header through the unprotected TLV area.
pub fn signed_image_part(image: &[u8]) -> Result<&[u8], Error> {
    let view = ImageView::parse(image).map_err(|e| {
        Error::input(format!("not an MCUboot image: {e}"))
            .with_hint("releases are made of signed images (`signer sign` or imgtool output)")
    })?;
    image
        .get(..view.image_len())
        .ok_or_else(|| Error::input("image shorter than its TLV area"))
}

/// Builds and signs a release. The envelope is assembled by
/// [`EnvelopeBuilder`] (each signer is asked once, for the `Sig_structure` of its algorithm) and
/// checked by `device_verifier::verify_envelope` with the signers' own keys before the bundle is
/// returned.
///
/// # Production callers sign through the audit log
///
/// This function writes no audit record: it signs with whatever `signers` it is given.
/// Production callers pass each key as an [`AuditedKey`](crate::audit::AuditedKey) adapted with
/// [`KeyCoseSigner::new`](sign::KeyCoseSigner::new) — as `signer release` and the demo do — so
/// that each manifest signature is appended (and fsynced) to the audit log before this function
/// gets it, and so before any bundle exists. That is the trust model's rule
/// (docs/ARCHITECTURE.md: every signature is in the audit log before the signed output is
/// written): a manifest signed with a raw key is a release the log cannot account for, which
/// devices would nevertheless install. Tests and benches may pass raw keys
/// (`ed25519_dalek::SigningKey`, `p256::ecdsa::SigningKey`).
pub fn build_release(input: ReleaseInput, signers: &[&dyn CoseSigner]) -> Result<ReleaseBundle, Error> {
    if signers.is_empty() {
        return Err(Error::usage("a release needs at least one manifest signing key"));
    }
    if signers.len() > manifest::suit::MAX_SIGNATURES {
        return Err(Error::usage(format!(
            "at most {} signatures",
            manifest::suit::MAX_SIGNATURES
        )));
    }
    // Every key's algorithm is checked before any key is asked: no signature (and no audit
    // record) is made for a release that cannot be built.
    if let Some(alg) = signers
        .iter()
        .map(|s| CoseAlg(s.cose_alg()))
        .find(|alg| !alg.is_supported())
    {
        return Err(Error::key(format!(
            "signing algorithm {} is outside the SUIT profile",
            alg.0
        )));
    }
    if input.sequence > manifest::suit::MAX_SEQUENCE {
        return Err(Error::usage(format!(
            "sequence number {} is above {} (2^63 - 1), the highest a server stores",
            input.sequence,
            manifest::suit::MAX_SEQUENCE
        ))
        .with_hint("sequence numbers only need to increase: a release counter or a date such as 20261207 does"));
    }
    if input.sequence == 0 {
        return Err(Error::usage(
            "sequence number 0 can never be installed (devices start at 0 and need a higher one)",
        ));
    }
    let image = signed_image_part(&input.image)?.to_vec();
    let (vendor, class) = class_uuids(&input.vendor_domain, &input.class_name);
    let image_uri = input.image_uri.clone().unwrap_or_else(|| input.image_name.clone());

    let precursors: Vec<Vec<u8>> = input
        .deltas
        .iter()
        .map(|d| signed_image_part(&d.precursor_image).map(<[u8]>::to_vec))
        .collect::<Result<_, _>>()?;
    let delta_fields: Vec<DeltaFields<'_>> = input
        .deltas
        .iter()
        .zip(&precursors)
        .map(|(d, pre)| DeltaFields {
            format: DeltaFormat(d.format),
            precursor_digest: sha256(pre),
            precursor_size: pre.len() as u64,
            patch_digest: sha256(&d.patch),
            patch_size: d.patch.len() as u64,
            uri: &d.file_name,
        })
        .collect();
    let fields = ManifestFields {
        sequence: input.sequence,
        vendor_id: *vendor.as_bytes(),
        class_id: *class.as_bytes(),
        image_digest: sha256(&image),
        image_size: image.len() as u64,
        install_uri: &image_uri,
        deltas: &delta_fields,
    };
    let mut builder = EnvelopeBuilder::new(
        &fields,
        &TextFields {
            language: "en",
            version: &input.version,
            notes: &input.notes,
        },
    );
    let mut signatures = Vec::new();
    for signer in signers {
        let alg = CoseAlg(signer.cose_alg());
        let spki_sha256 = sha256(&signer.public_spki());
        // The kid lets a verifier holding several keys check this signature under the one key
        // it names, and say "bad signature" rather than "untrusted key" (docs/FORMATS.md).
        let kid = manifest::suit::key_id(&spki_sha256);
        // RFC 9052 §4.4: sign ["Signature1", << {1: alg, 4: kid} >>, h'', SUIT_Digest] (draft §8.3).
        let to_be_signed = builder.to_be_signed(alg, Some(&kid)).map_err(build_error)?;
        let signature = signer.sign(&to_be_signed)?;
        builder
            .add_signature(alg, Some(&kid), &signature)
            .map_err(|e| Error::internal(format!("signer returned a malformed signature: {e}")))?;
        signatures.push(SignatureSummary {
            alg: alg.name().unwrap_or("unknown").to_owned(),
            key_sha256: hex::encode(spki_sha256),
        });
    }
    let envelope = builder.finish().map_err(build_error)?;

    let spkis: Vec<Vec<u8>> = signers.iter().map(|s| s.public_spki()).collect();
    report::verify_envelope_with(&envelope, &spkis, signers.len(), Some((vendor, class)), 0).map_err(|e| {
        e.context("self-check of the new envelope failed")
            .with_kind(ErrorKind::Internal)
    })?;

    let patches = input
        .deltas
        .iter()
        .map(|d| (d.file_name.clone(), d.patch.clone()))
        .collect();
    Ok(ReleaseBundle::new(
        envelope,
        image,
        &input,
        image_uri,
        vendor,
        class,
        signatures,
        patches,
        &precursors,
    ))
}
