//! Release bundles made with the real `signer` library (test-only keys).

use std::path::PathBuf;

use ed25519_dalek::pkcs8::EncodePublicKey as _;
use manifest::image::{ImageVersion, TrailerLayout};
use ota_protocol::client::{BundleFile, ReleaseUpload};
use signer::image::{sign_image, SignSettings};
use signer::release::{build_release, CoseSigner, DeltaRef, ReleaseBundle, ReleaseInput};

pub const VENDOR: &str = "example.com";
pub const CLASS: &str = "sensor-v2";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The trusted manifest key (test-only).
pub fn manifest_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[3; 32])
}

/// A manifest key the server does not trust.
pub fn rogue_manifest_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[4; 32])
}

pub fn manifest_pub_pem() -> String {
    manifest_key()
        .verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap()
}

pub fn image_pub_pem_path() -> PathBuf {
    repo().join("fixtures/keys/test-only-ed25519-a.pub.pem")
}

/// fw-v1 / fw-v2: real 56 KiB images signed with the trusted image key.
pub fn fixture_image(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("fixtures/images").join(name)).unwrap()
}

/// A signed MCUboot image of `len` payload bytes (trusted key `a`, or untrusted `b`).
pub fn signed_image(len: usize, seed: u8, trusted: bool) -> Vec<u8> {
    let key_file = if trusted {
        "test-only-ed25519-a.pem"
    } else {
        "test-only-ed25519-b.pem"
    };
    let key = signer::keys::load_file_key(&repo().join("fixtures/keys").join(key_file)).unwrap();
    let payload: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect();
    let settings = SignSettings::new(ImageVersion::default(), u32::try_from(len + 0x10000).unwrap())
        .pad_header(true)
        .security_counter(Some(1))
        .trailer(TrailerLayout::for_align(8, None));
    sign_image(&payload, &settings, &key).unwrap().bytes
}

pub fn release_with(
    image: Vec<u8>,
    sequence: u64,
    class: &str,
    deltas: Vec<DeltaRef>,
    key: &ed25519_dalek::SigningKey,
) -> ReleaseBundle {
    let input = ReleaseInput {
        image,
        image_name: "firmware.bin".into(),
        image_uri: None,
        sequence,
        vendor_domain: VENDOR.into(),
        class_name: class.into(),
        version: format!("1.{sequence}.0"),
        notes: "test release".into(),
        deltas,
    };
    build_release(input, &[key as &dyn CoseSigner]).unwrap()
}

pub fn release(image: Vec<u8>, sequence: u64) -> ReleaseBundle {
    release_with(image, sequence, CLASS, vec![], &manifest_key())
}

/// A release of `image` carrying a (fake-content) patch from `base`.
pub fn release_with_patch(image: Vec<u8>, base: Vec<u8>, sequence: u64) -> ReleaseBundle {
    let delta = DeltaRef {
        format: 1,
        precursor_image: base,
        patch: b"not a real patch, the server only checks digest and size".to_vec(),
        file_name: "v1-to-v2.patch".into(),
    };
    release_with(image, sequence, CLASS, vec![delta], &manifest_key())
}

/// Parts of an upload, so tests can drop or replace any of them.
#[derive(Debug, Clone)]
pub struct Upload {
    pub envelope: Option<Vec<u8>>,
    pub image: Option<Vec<u8>>,
    pub patches: Vec<Vec<u8>>,
    pub summary: Option<Vec<u8>>,
}

impl Upload {
    pub fn of(b: &ReleaseBundle) -> Self {
        Self {
            envelope: Some(b.envelope.clone()),
            image: Some(b.image.clone()),
            patches: b.patches.iter().map(|(_, p)| p.clone()).collect(),
            summary: Some(serde_json::to_vec(&b.summary).unwrap()),
        }
    }

    /// The parts as the admin client uploads them (file names as in a `signer release` bundle).
    pub fn to_release_upload(&self) -> ReleaseUpload {
        ReleaseUpload {
            envelope: self.envelope.clone().map(|b| BundleFile::new("release.suit", b)),
            image: self.image.clone().map(|b| BundleFile::new("firmware.bin", b)),
            patches: self
                .patches
                .iter()
                .map(|p| BundleFile::new("patch.bin", p.clone()))
                .collect(),
            summary: self.summary.clone().map(|b| BundleFile::new("release.json", b)),
        }
    }
}
