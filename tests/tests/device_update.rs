//! A device running v1 receives the v2 release (signed SUIT envelope + delta patch) and goes
//! through what its bootloader does, with the device's own verifier at every step:
//! verify the envelope → authorise the patch against the manifest → apply it into the other
//! slot → bind the new image to the release → boot → commit the new anti-rollback floor.

use device_verifier::delta::{self, ApplyIo, ApplyRam};
use device_verifier::release::{
    bind_image, check_patch_file, match_patch, verify_envelope, ManifestPolicy, RollbackStore, SequenceCommit,
    StoreError,
};
use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey, VerifyErrorKind};
use manifest::delta::DeltaHeader;
use signer::delta::MemSlot;
use signer::keys::{load_file_key, load_public_spki};
use signer::release::sign::KeyCoseSigner;
use signer::release::{build_release, class_ids, DeltaRef, ReleaseInput};
use std::path::PathBuf;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    std::fs::read(fixture(rel)).unwrap()
}

/// The device's persistent anti-rollback sequence number.
struct Nvm(u64);

impl RollbackStore for Nvm {
    fn sequence(&self) -> u64 {
        self.0
    }
    fn commit(&mut self, commit: SequenceCommit) -> Result<(), StoreError> {
        self.0 = commit.sequence();
        Ok(())
    }
}

struct Release {
    envelope: Vec<u8>,
    patch: Vec<u8>,
}

/// Signs release `new` with sequence `seq` and a patch made from `base` (by the signer library).
fn cut_release(new: &[u8], base: &[u8], seq: u64, class: &str) -> Release {
    let key = load_file_key(&fixture("keys/test-only-ed25519-b.pem")).unwrap();
    let cose = KeyCoseSigner::new(&key).unwrap();
    let patch = signer::delta::create(base, new, &|_, _| {}).unwrap();
    let bundle = build_release(
        ReleaseInput {
            image: new.to_vec(),
            image_name: "app.bin".into(),
            image_uri: None,
            sequence: seq,
            vendor_domain: "example.com".into(),
            class_name: class.into(),
            version: "1.1.0".into(),
            notes: String::new(),
            deltas: vec![DeltaRef {
                format: manifest::suit::DeltaFormat::FWSIGN_V1.0,
                precursor_image: base.to_vec(),
                patch: patch.clone(),
                file_name: "v1-to-v2.patch".into(),
            }],
        },
        &[&cose],
    )
    .unwrap();
    Release {
        envelope: bundle.envelope.clone(),
        patch,
    }
}

struct Device {
    manifest_key: Vec<u8>,
    image_key: Vec<u8>,
    vendor: [u8; 16],
    class: [u8; 16],
    nvm: Nvm,
    running: Vec<u8>,
}

impl Device {
    fn new(running: Vec<u8>) -> Self {
        let ids = class_ids("example.com", "sensor-v1");
        Self {
            manifest_key: load_public_spki(&fixture("keys/test-only-ed25519-b.pub.pem")).unwrap(),
            image_key: load_public_spki(&fixture("keys/test-only-ed25519-a.pub.pem")).unwrap(),
            vendor: ids.vendor_id,
            class: ids.class_id,
            nvm: Nvm(1),
            running,
        }
    }

    /// The bootloader's update path. Returns the new slot's contents on success.
    fn update(&mut self, release: &Release) -> Result<Vec<u8>, String> {
        let manifest_keys = [TrustedKey::from_spki(&self.manifest_key).unwrap()];
        let image_keys = [TrustedKey::from_spki(&self.image_key).unwrap()];
        let policy = ManifestPolicy::new(&manifest_keys, self.vendor, self.class);
        let verified = verify_envelope(&release.envelope, &policy, &self.nvm).map_err(|e| format!("envelope: {e}"))?;
        let header = DeltaHeader::parse(&release.patch).map_err(|e| format!("patch header: {e:?}"))?;
        let entry = match_patch(&verified, &header, release.patch.len() as u64).map_err(|e| format!("patch: {e}"))?;
        // The patch file itself must be the one the manifest names.
        let mut scratch = [0u8; 512];
        check_patch_file(&entry, &mut SliceFlash::new(&release.patch), &mut scratch)
            .map_err(|e| format!("patch digest differs from the manifest: {e}"))?;
        let mut base = SliceFlash::new(&self.running);
        let mut target = MemSlot::new(0x20000);
        let mut source: &[u8] = &release.patch;
        let header = delta::read_header(&mut source).map_err(|e| format!("{e:?}"))?;
        let mut ram = ApplyRam::new();
        let mut page = [0u8; 4096];
        let image_policy = ImagePolicy {
            trusted_keys: &image_keys,
            security_counter_floor: Some(0),
        };
        delta::apply_and_verify(
            &header,
            ApplyIo {
                base: &mut base,
                target: &mut target,
                patch: &mut source,
                ram: &mut ram,
                page: &mut page,
            },
            &image_policy,
        )
        .map_err(|e| format!("apply: {e:?}"))?;
        let bound = bind_image(&verified, &mut SliceFlash::new(&target.bytes), &image_policy, &mut page)
            .map_err(|e| format!("bind: {e}"))?;
        // "Reboot" into the new slot; the new firmware confirms itself and commits the floor.
        let running = verify_image(&mut SliceFlash::new(&target.bytes), &image_policy, &mut page).unwrap();
        bound
            .commit_after_boot(&mut self.nvm, &running)
            .map_err(|e| format!("commit: {e}"))?;
        Ok(target.bytes)
    }
}

#[test]
fn delta_update_end_to_end_then_rollback_is_refused() {
    let (v1, v2) = (read("images/fw-v1.signed.bin"), read("images/fw-v2.signed.bin"));
    let release = cut_release(&v2, &v1, 2, "sensor-v1");
    let mut device = Device::new(v1.clone());
    let slot = device.update(&release).unwrap();
    assert_eq!(&slot[..v2.len()], &v2[..], "the new slot holds v2 byte for byte");
    assert_eq!(device.nvm.0, 2, "the floor moved only after the boot");
    // rollback: the same release again (equal sequence) is refused.
    let err = device.update(&release).unwrap_err();
    assert!(err.contains("sequence"), "{err}");
}

#[test]
fn wrong_class_release_is_refused() {
    let (v1, v2) = (read("images/fw-v1.signed.bin"), read("images/fw-v2.signed.bin"));
    let release = cut_release(&v2, &v1, 2, "other-class");
    let err = Device::new(v1).update(&release).unwrap_err();
    assert!(err.contains("class"), "{err}");
}

#[test]
fn mix_and_match_patch_from_another_release_is_refused() {
    let (v1, v2) = (read("images/fw-v1.signed.bin"), read("images/fw-v2.signed.bin"));
    let good = cut_release(&v2, &v1, 2, "sensor-v1");
    // A patch for a different result (v2 -> v1), swapped in next to the v2 envelope.
    let other = cut_release(&v1, &v2, 3, "sensor-v1");
    let evil = Release {
        envelope: good.envelope.clone(),
        patch: other.patch,
    };
    let err = Device::new(v1.clone()).update(&evil).unwrap_err();
    assert!(err.contains("patch"), "{err}");
    assert_eq!(
        match_patch(
            &verify_envelope(
                &good.envelope,
                &ManifestPolicy::new(
                    &[
                        TrustedKey::from_spki(&load_public_spki(&fixture("keys/test-only-ed25519-b.pub.pem")).unwrap())
                            .unwrap()
                    ],
                    class_ids("example.com", "sensor-v1").vendor_id,
                    class_ids("example.com", "sensor-v1").class_id
                ),
                &Nvm(0)
            )
            .unwrap(),
            &DeltaHeader::parse(&evil.patch).unwrap(),
            evil.patch.len() as u64
        )
        .unwrap_err()
        .kind,
        VerifyErrorKind::PatchNotInManifest
    );
}

#[test]
fn tamper_patch_bytes_are_refused_before_flash_is_touched() {
    let (v1, v2) = (read("images/fw-v1.signed.bin"), read("images/fw-v2.signed.bin"));
    let mut release = cut_release(&v2, &v1, 2, "sensor-v1");
    let last = release.patch.len() - 1;
    release.patch[last] ^= 0x55;
    let err = Device::new(v1).update(&release).unwrap_err();
    assert!(err.contains("patch digest"), "{err}");
}
