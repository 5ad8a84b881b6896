//! Shared by the rollout tests (`rollout_store.rs`, `rollout_replicas.rs`): real stores,
//! releases signed with the test-only keys and verified by the server's verifier, plans.
#![allow(dead_code)] // each test binary uses its own subset

use ota_server::domain::offer::Running;
use ota_server::domain::rollout::RolloutPlan;
use ota_server::domain::Sha256;
use ota_server::service::rollouts::RolloutSpec;
use ota_server::store::{self, SharedStore};

pub const CLASS: &str = "sensor-v2";
pub const SALT: [u8; 16] = *b"store-test-salt!";

pub fn pg_url() -> String {
    std::env::var("OTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub async fn sqlite() -> (tempfile::TempDir, SharedStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("ota.db").display());
    (dir, store::open(&url).await.unwrap())
}

/// A database URL of a new, unique PostgreSQL schema (several stores opened on it are
/// replicas of one server).
pub fn postgres_url() -> String {
    use rand_core::RngCore as _;
    let schema = format!("rollout_{:016x}", rand_core::OsRng.next_u64());
    format!("{}?schema={schema}", pg_url())
}

pub async fn open_postgres(url: &str) -> SharedStore {
    store::open(url)
        .await
        .expect("PostgreSQL must be reachable (OTA_TEST_PG_URL; .ci/postgres-up.sh)")
}

pub async fn postgres() -> SharedStore {
    open_postgres(&postgres_url()).await
}

pub fn spec(plan: RolloutPlan, target_tags: Vec<String>) -> RolloutSpec {
    RolloutSpec {
        name: None,
        plan,
        target_tags,
        salt: Some(SALT),
        start: true,
    }
}

/// Release `{sequence}.0.0` of the class, signed with the test-only keys, verified by the
/// server's verifier (the only way to a `VerifiedBundle`; the image read from memory) and stored.
pub async fn insert_release_seq(store: &SharedStore, sequence: u64, t0: i64) -> ota_server::domain::Release {
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use manifest::image::{ImageVersion, TrailerLayout};
    use ota_server::domain::ingest::{Bundle, ClassRef, ReleaseVerifier as _, StagedArtifact, SuitVerifier};
    use signer::release::{build_release, CoseSigner, ReleaseInput};

    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/keys");
    let image_key = signer::keys::load_file_key(&keys.join("test-only-ed25519-a.pem")).unwrap();
    let payload: Vec<u8> = (0..4096u32).map(|i| (i as u8).wrapping_add(sequence as u8)).collect();
    let settings = signer::image::SignSettings::new(ImageVersion::default(), 0x20000)
        .pad_header(true)
        .security_counter(Some(1))
        .trailer(TrailerLayout::for_align(8, None));
    let image = signer::image::sign_image(&payload, &settings, &image_key)
        .unwrap()
        .bytes;
    let manifest_key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let input = ReleaseInput {
        image,
        image_name: "firmware.bin".into(),
        image_uri: None,
        sequence,
        vendor_domain: "example.com".into(),
        class_name: CLASS.into(),
        version: format!("{sequence}.0.0"),
        notes: "test release".into(),
        deltas: vec![],
    };
    let bundle = build_release(input, &[&manifest_key as &dyn CoseSigner]).unwrap();
    let verifier = SuitVerifier {
        image_keys: vec![signer::keys::load_public_spki(&keys.join("test-only-ed25519-a.pub.pem")).unwrap()],
        manifest_keys: vec![manifest_key.verifying_key().to_public_key_der().unwrap().into_vec()],
        threshold: 1,
        classes: vec![ClassRef::derive(CLASS, "example.com")],
    };
    let upload = Bundle {
        envelope: bundle.envelope.clone(),
        image: StagedArtifact {
            name: "firmware.bin".into(),
            path: "firmware.bin".into(),
            digest: Sha256::of(&bundle.image),
            size: bundle.image.len() as u64,
        },
        patches: vec![],
        summary: None,
    };
    let class = verifier.class_of(&bundle.envelope).unwrap();
    let mut image = device_verifier::flash::SliceFlash::new(&bundle.image);
    let verified = verifier.verify(&upload, &class, 0, &mut image).unwrap();
    store.insert_release(&verified, "test", t0).await.unwrap()
}

/// Release 2.0.0 (sequence 2) of the class.
pub async fn insert_release(store: &SharedStore, t0: i64) -> ota_server::domain::Release {
    insert_release_seq(store, 2, t0).await
}

/// What a device running `release` reports.
pub fn runs(release: &ota_server::domain::Release) -> Running {
    Running {
        digest: release.facts.image_digest,
        version: None,
        sequence: release.facts.sequence,
    }
}

pub fn running(digest: u8, sequence: u64) -> Running {
    Running {
        digest: Sha256([digest; 32]),
        version: None,
        sequence,
    }
}

/// The server served `device` all of `release`'s image: the evidence a commit needs (what the
/// download handler records before the last byte leaves).
pub async fn downloaded(store: &SharedStore, device: &str, release: &ota_server::domain::Release, at: i64) {
    let size = release.facts.image_size;
    store
        .record_download(device, &release.facts.image_digest, size, 0, size, at)
        .await
        .unwrap();
}
