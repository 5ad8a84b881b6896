//! Fuzzing the SUIT envelope path: decode, signature check, identity and anti-rollback.
#![allow(clippy::as_conversions, clippy::arithmetic_side_effects, clippy::indexing_slicing)] // fuzz harness, never on a device

use crate::release::{verify_envelope, ManifestPolicy, RollbackStore, SequenceCommit, StoreError};
use crate::TrustedKey;

/// DER SPKI of `fixtures/keys/test-only-ed25519-b.pub.pem`, the test manifest key that signed
/// the seeds in `fuzz/corpus/release_verify/`.
const MANIFEST_KEY_SPKI: [u8; 44] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0xe6, 0x3b, 0x9c, 0xc6, 0x71, 0x94, 0xac,
    0x25, 0xfb, 0x3b, 0x25, 0x85, 0x10, 0x82, 0xac, 0x5a, 0xa1, 0xce, 0xaf, 0x0f, 0xb7, 0xd9, 0x1b, 0xb4, 0x83, 0x01,
    0x74, 0x89, 0x3b, 0x1e, 0xfa, 0xad,
];
/// UUIDv5(DNS, "example.com") and UUIDv5(vendor, "sensor-v1"): the seeds' identity.
const VENDOR: [u8; 16] = [
    0xcf, 0xbf, 0xf0, 0xd1, 0x93, 0x75, 0x56, 0x85, 0x96, 0x8c, 0x48, 0xce, 0x8b, 0x15, 0xae, 0x17,
];
const CLASS: [u8; 16] = [
    0x05, 0xac, 0xb4, 0x94, 0x44, 0x0f, 0x57, 0x8c, 0xb7, 0xb9, 0x6e, 0x13, 0x7a, 0x09, 0x51, 0x89,
];

struct Stored(u64);

impl RollbackStore for Stored {
    fn sequence(&self) -> u64 {
        self.0
    }
    fn commit(&mut self, commit: SequenceCommit) -> Result<(), StoreError> {
        self.0 = commit.sequence();
        Ok(())
    }
}

/// Decodes and verifies arbitrary bytes as an envelope. Whatever is accepted must have passed
/// every gate: sequence strictly above the store, the device's identity, a trusted signature.
pub fn release_verify(data: &[u8]) {
    // The decoder alone must never panic, whatever the bytes.
    let _ = manifest::suit::Envelope::decode(data);
    let keys = [TrustedKey::from_spki(&MANIFEST_KEY_SPKI).expect("test key")];
    let policy = ManifestPolicy::new(&keys, VENDOR, CLASS);
    for floor in [0u64, 1, 5] {
        if let Ok(release) = verify_envelope(data, &policy, &Stored(floor)) {
            assert!(
                release.sequence() > floor,
                "accepted a sequence not above the stored one"
            );
            assert_eq!(release.vendor_id(), &VENDOR);
            assert_eq!(release.class_id(), &CLASS);
            assert!(!release.signer_key_indices().is_empty());
            // Every delta entry of an accepted manifest decodes.
            for delta in release.deltas() {
                assert!(delta.precursor_size <= u64::from(u32::MAX) || delta.precursor_size > 0);
            }
        }
    }
}
