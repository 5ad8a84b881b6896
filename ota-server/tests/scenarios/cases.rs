//! The scenarios (each takes the backend; see `both_backends!`), by area, and their helpers.

#[path = "admin.rs"]
mod admin;
#[path = "device.rs"]
mod device;
#[path = "identity.rs"]
mod identity;
#[path = "ingest.rs"]
mod ingest;
#[path = "rollouts.rs"]
mod rollouts;

pub use admin::*;
pub use device::*;
pub use identity::*;
pub use ingest::*;
pub use rollouts::*;

use device_verifier::release::{
    bind_image, verify_envelope, ManifestPolicy, RollbackStore, SequenceCommit, StoreError,
};
use device_verifier::{ImagePolicy, SliceFlash, TrustedKey};
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ota_server::domain::ingest::ClassRef;

use crate::bundles::{self, CLASS, VENDOR};
use crate::harness::Env;

pub(super) struct Fresh;

impl RollbackStore for Fresh {
    fn sequence(&self) -> u64 {
        0
    }
    fn commit(&mut self, _: SequenceCommit) -> Result<(), StoreError> {
        Ok(())
    }
}

/// What a device does with an offer: verify the envelope, then bind the downloaded image.
pub(super) fn device_accepts(envelope: &[u8], image: &[u8]) {
    let mspki = bundles::manifest_key().verifying_key().to_public_key_der().unwrap();
    let ispki = signer::keys::load_public_spki(&bundles::image_pub_pem_path()).unwrap();
    let mkeys = [TrustedKey::from_spki(mspki.as_bytes()).unwrap()];
    let ikeys = [TrustedKey::from_spki(&ispki).unwrap()];
    let class = ClassRef::derive(CLASS, VENDOR);
    let policy = ManifestPolicy::new(&mkeys, class.vendor_id, class.class_id);
    let release = verify_envelope(envelope, &policy, &Fresh).expect("device verifies the envelope");
    let mut buf = [0u8; 4096];
    bind_image(
        &release,
        &mut SliceFlash::new(image),
        &ImagePolicy {
            trusted_keys: &ikeys,
            security_counter_floor: None,
        },
        &mut buf,
    )
    .expect("device binds the image");
}

pub(super) async fn download(client: &reqwest::Client, env: &Env, url: &str) -> Vec<u8> {
    let r = client.get(env.url(url)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

pub(super) fn code(v: &serde_json::Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("<none>")
}
