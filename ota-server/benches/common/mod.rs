//! What both ota-server benches need alike: the environment knobs, the manifest key, signed
//! images and their release bundles, plain-HTTP client connections and percentiles.
//!
//! `checkin.rs` includes it as `mod common;`, `rollout/main.rs` as
//! `#[path = "../common/mod.rs"] mod common;`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ed25519_dalek::pkcs8::EncodePublicKey as _;
use manifest::image::{ImageVersion, TrailerLayout};
use ota_protocol::client::ReleaseUpload;
use signer::image::{sign_image, SignSettings};
use signer::release::{build_release, CoseSigner, ReleaseInput};

/// The vendor of every bench class.
pub const VENDOR: &str = "example.com";

/// A numeric environment knob, `default` when unset or not a number.
pub fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `path` in the repository.
pub fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The public key the server verifies images with (the benches sign with its private half).
pub fn image_public_key() -> PathBuf {
    repo("fixtures/keys/test-only-ed25519-a.pub.pem")
}

/// The key that signs the release manifests.
fn manifest_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[3; 32])
}

/// Writes the manifest key's public half to `dir/m.pem` (the server's trusted manifest key).
pub fn write_manifest_public_key(dir: &Path) -> PathBuf {
    let path = dir.join("m.pem");
    let pem = manifest_key()
        .verifying_key()
        .to_public_key_pem(Default::default())
        .unwrap();
    std::fs::write(&path, pem).unwrap();
    path
}

/// A signed MCUboot image of `len` payload bytes. `version` changes every 4096th byte (0: none),
/// so two versions differ in a few places: their delta is small but real.
pub fn signed_image(len: usize, version: u8, counter: u32) -> Vec<u8> {
    let key = signer::keys::load_file_key(&repo("fixtures/keys/test-only-ed25519-a.pem")).unwrap();
    let mut payload: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31)).collect();
    for i in (0..len).step_by(4096) {
        payload[i] = payload[i].wrapping_add(version);
    }
    let settings = SignSettings::new(ImageVersion::default(), u32::try_from(len + 0x10000).unwrap())
        .pad_header(true)
        .security_counter(Some(counter))
        .trailer(TrailerLayout::for_align(8, None));
    sign_image(&payload, &settings, &key).unwrap().bytes
}

/// The release of `image` (as `fw.bin`) for `class`, without deltas.
pub fn release_input(class: &str, sequence: u64, version: &str, image: Vec<u8>) -> ReleaseInput {
    ReleaseInput {
        image,
        image_name: "fw.bin".into(),
        image_uri: None,
        sequence,
        vendor_domain: VENDOR.into(),
        class_name: class.into(),
        version: version.into(),
        notes: String::new(),
        deltas: vec![],
    }
}

/// The bundle of `input`, signed with the manifest key, as an admin-API upload.
pub fn release_upload(input: ReleaseInput) -> ReleaseUpload {
    let bundle = build_release(input, &[&manifest_key() as &dyn CoseSigner]).unwrap();
    let upload = ReleaseUpload::new(bundle.envelope, bundle.image_name, bundle.image);
    bundle
        .patches
        .into_iter()
        .fold(upload, |upload, (name, patch)| upload.with_patch(name, patch))
}

/// `n` plain-HTTP clients of one keep-alive connection each.
pub fn plain_clients(n: usize) -> Vec<reqwest::Client> {
    (0..n)
        .map(|_| reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap())
        .collect()
}

/// The `p` percentile of `v` (sorted here); zero if `v` is empty.
pub fn percentile(v: &mut [Duration], p: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort_unstable();
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}
