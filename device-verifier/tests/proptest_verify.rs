//! Property tests for `verify_image`. Images are built with `manifest`'s encoder and
//! signed here with ed25519-dalek the way imgtool does (Ed25519 over the SHA-256 digest), then:
//! they verify; any change to a covered byte is refused (`tamper`); another key is refused
//! (`wrong_key`); the counter decides against the floor (`rollback`); and arbitrary or mutated
//! bytes never panic (`endless_data`, `truncated`).

use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey, VerifyError, VerifyErrorKind};
use ed25519_dalek::{Signer, SigningKey};
use manifest::image::encode::{ImageOptions, UnsignedImage};
use manifest::image::{ImageVersion, TlvKind};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// RFC 8410 §4 SubjectPublicKeyInfo prefix for Ed25519.
const SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

fn spki(key: &SigningKey) -> Vec<u8> {
    let mut out = SPKI_PREFIX.to_vec();
    out.extend_from_slice(key.verifying_key().as_bytes());
    out
}

#[derive(Debug, Clone)]
struct Params {
    body: Vec<u8>,
    hdr_extra: u16,
    counter: Option<u32>,
    version: (u8, u8, u16, u32),
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop::collection::vec(any::<u8>(), 0..700),
        0u16..48,
        proptest::option::of(any::<u32>()),
        any::<(u8, u8, u16, u32)>(),
    )
        .prop_map(|(body, hdr_extra, counter, version)| Params {
            body,
            hdr_extra,
            counter,
            version,
        })
}

/// imgtool's layout: protected SEC_CNT; unprotected SHA256, KEYHASH, ED25519 (FORMAT-NOTES §1, §2).
fn signed_image(p: &Params, key: &SigningKey) -> Vec<u8> {
    let (major, minor, revision, build) = p.version;
    let options = ImageOptions {
        header_size: 32 + p.hdr_extra,
        pad_header: true,
        version: ImageVersion {
            major,
            minor,
            revision,
            build,
        },
        security_counter: p.counter,
        ..ImageOptions::default()
    };
    let unsigned = UnsignedImage::new(&p.body, &options).unwrap();
    let digest: [u8; 32] = Sha256::digest(unsigned.covered()).into();
    let keyhash: [u8; 32] = Sha256::digest(spki(key)).into();
    let signature = key.sign(&digest).to_bytes();
    unsigned
        .finish(&[
            (TlvKind::SHA256, &digest),
            (TlvKind::KEYHASH, &keyhash),
            (TlvKind::ED25519, &signature),
        ])
        .unwrap()
}

fn verify(image: &[u8], trusted: &[u8], floor: Option<u32>, buf_len: usize) -> Result<Option<u32>, VerifyError> {
    let key = TrustedKey::from_spki(trusted).unwrap();
    let mut buf = vec![0u8; buf_len];
    let policy = ImagePolicy {
        trusted_keys: &[key],
        security_counter_floor: floor,
    };
    verify_image(&mut SliceFlash::new(image), &policy, &mut buf).map(|v| v.security_counter())
}

fn device_key() -> SigningKey {
    SigningKey::from_bytes(&[0x42; 32])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn signed_images_verify_with_any_buffer_size(p in params(), buf_len in 12usize..300) {
        let key = device_key();
        let image = signed_image(&p, &key);
        prop_assert_eq!(verify(&image, &spki(&key), None, buf_len), Ok(p.counter));
    }

    #[test]
    fn rollback_floor_decides(p in params(), floor in any::<u32>()) {
        let key = device_key();
        let image = signed_image(&p, &key);
        let result = verify(&image, &spki(&key), Some(floor), 64).map_err(|e| e.kind);
        match p.counter {
            None => prop_assert_eq!(result, Err(VerifyErrorKind::MissingSecurityCounter)),
            Some(c) if c >= floor => prop_assert_eq!(result, Ok(Some(c))),
            Some(_) => prop_assert_eq!(result, Err(VerifyErrorKind::Rollback)),
        }
    }

    #[test]
    fn tamper_with_any_covered_byte_is_refused(p in params(), at in any::<prop::sample::Index>(), x in 1u8..) {
        let key = device_key();
        let mut image = signed_image(&p, &key);
        let covered = image.len() - (4 + 36 + 36 + 68);
        let i = at.index(covered);
        image[i] ^= x;
        prop_assert!(verify(&image, &spki(&key), None, 64).is_err(), "flip at {} verified", i);
    }

    #[test]
    fn tamper_with_any_unprotected_byte_is_refused(p in params(), at in any::<prop::sample::Index>(), x in 1u8..) {
        let key = device_key();
        let mut image = signed_image(&p, &key);
        let tlvs = 4 + 36 + 36 + 68;
        let start = image.len() - tlvs;
        let i = start + at.index(tlvs);
        image[i] ^= x;
        prop_assert!(verify(&image, &spki(&key), None, 64).is_err(), "flip at {} verified", i);
    }

    #[test]
    fn wrong_key_is_refused(p in params(), seed in any::<[u8; 32]>()) {
        prop_assume!(seed != [0x42; 32]);
        let signer = SigningKey::from_bytes(&seed);
        let image = signed_image(&p, &signer);
        let result = verify(&image, &spki(&device_key()), None, 64).map_err(|e| e.kind);
        prop_assert_eq!(result, Err(VerifyErrorKind::UntrustedKey));
    }

    #[test]
    fn truncated_images_are_refused(p in params(), cut in any::<prop::sample::Index>()) {
        let key = device_key();
        let image = signed_image(&p, &key);
        let cut = cut.index(image.len());
        prop_assert!(verify(&image[..cut], &spki(&key), None, 64).is_err());
    }

    /// `endless_data`: random edits (overwrite, insert, delete) of a signed image never panic,
    /// and whatever still verifies kept its covered bytes and signature intact.
    #[test]
    fn mutated_images_never_panic(
        p in params(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let key = device_key();
        let original = signed_image(&p, &key);
        let mut image = original.clone();
        for (at, value, op) in edits {
            let i = at.index(image.len().max(1));
            match op {
                0 if !image.is_empty() => image[i] = value,
                1 => image.insert(i.min(image.len()), value),
                _ if !image.is_empty() => {
                    image.remove(i);
                }
                _ => {}
            }
        }
        if verify(&image, &spki(&key), None, 32).is_ok() {
            prop_assert!(image.starts_with(&original), "a modified image verified");
        }
    }

    #[test]
    fn arbitrary_bytes_never_verify(data in prop::collection::vec(any::<u8>(), 0..1024), buf_len in 0usize..64) {
        let key = device_key();
        prop_assert!(verify(&data, &spki(&key), None, buf_len).is_err());
    }
}
