//! `release::check_patch_file` on the committed release (`fixtures/releases/v2`): the downloaded
//! patch must be exactly the file the verified manifest names (its delta entry's patch-digest
//! and patch-size, docs/FORMATS.md) before anything is erased.

mod common;

use common::{key_b, repo_fixture};
use device_verifier::release::{check_patch_file, match_patch};
use device_verifier::{
    delta, verify_envelope, FlashError, FlashRead, ManifestPolicy, RollbackStore, SequenceCommit, SliceFlash,
    StoreError, TrustedKey, VerifyErrorKind as Kind,
};

/// UUIDv5(DNS, "example.com") and UUIDv5(vendor, "sensor-v1"), as in `fixtures/releases/v2/release.json`.
const VENDOR: [u8; 16] = [
    0xcf, 0xbf, 0xf0, 0xd1, 0x93, 0x75, 0x56, 0x85, 0x96, 0x8c, 0x48, 0xce, 0x8b, 0x15, 0xae, 0x17,
];
const CLASS: [u8; 16] = [
    0x05, 0xac, 0xb4, 0x94, 0x44, 0x0f, 0x57, 0x8c, 0xb7, 0xb9, 0x6e, 0x13, 0x7a, 0x09, 0x51, 0x89,
];

struct Fresh;

impl RollbackStore for Fresh {
    fn sequence(&self) -> u64 {
        0
    }
    fn commit(&mut self, _: SequenceCommit) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Runs `check(entry, patch)` with the release's verified delta entry for the committed patch.
fn with_entry<R>(check: impl FnOnce(&manifest::suit::DeltaPatch<'_>, &[u8]) -> R) -> R {
    let envelope = repo_fixture("releases/v2/release.suit");
    let patch = repo_fixture("releases/v2/delta-from-06eb12d24ae7.patch");
    let spki = key_b();
    let keys = [TrustedKey::from_spki(&spki).unwrap()];
    let release = verify_envelope(&envelope, &ManifestPolicy::new(&keys, VENDOR, CLASS), &Fresh).unwrap();
    let header = delta::read_header(&mut &patch[..]).unwrap();
    let entry = match_patch(&release, &header, patch.len() as u64).unwrap();
    check(&entry, &patch)
}

#[test]
fn the_committed_patch_matches_its_manifest_entry() {
    with_entry(|entry, patch| {
        for buf_len in [1usize, 7, 64, 4096] {
            let mut buf = vec![0u8; buf_len];
            check_patch_file(entry, &mut SliceFlash::new(patch), &mut buf).unwrap();
        }
        assert_eq!(
            check_patch_file(entry, &mut SliceFlash::new(patch), &mut [])
                .unwrap_err()
                .kind,
            Kind::BufferTooSmall
        );
    });
}

#[test]
fn tamper() {
    with_entry(|entry, patch| {
        let mut buf = [0u8; 256];
        for i in 0..patch.len() {
            let mut bad = patch.to_vec();
            bad[i] ^= 0x01;
            let err = check_patch_file(entry, &mut SliceFlash::new(&bad), &mut buf).unwrap_err();
            assert_eq!(err.kind, Kind::PatchNotInManifest, "flip at byte {i} accepted");
        }
    });
}

#[test]
fn truncated() {
    with_entry(|entry, patch| {
        let mut buf = [0u8; 256];
        for len in [0, 1, patch.len() / 2, patch.len() - 1] {
            let err = check_patch_file(entry, &mut SliceFlash::new(&patch[..len]), &mut buf).unwrap_err();
            assert_eq!(err.kind, Kind::PatchNotInManifest, "{len}-byte prefix accepted");
        }
    });
}

/// A staging area that records the furthest byte read.
struct Watch<'a> {
    inner: SliceFlash<'a>,
    max_end: usize,
}

impl FlashRead for Watch<'_> {
    fn capacity(&self) -> u32 {
        self.inner.capacity()
    }
    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.max_end = self.max_end.max(offset as usize + buf.len());
        self.inner.read(offset, buf)
    }
}

#[test]
fn endless_data() {
    with_entry(|entry, patch| {
        // The staging area holds the patch and then a lot more: only patch-size bytes are read.
        let mut staged = patch.to_vec();
        staged.extend(std::iter::repeat_n(0x5au8, 1 << 16));
        let mut watch = Watch {
            inner: SliceFlash::new(&staged),
            max_end: 0,
        };
        check_patch_file(entry, &mut watch, &mut [0u8; 256]).unwrap();
        assert_eq!(watch.max_end, patch.len());
    });
}
