//! Fuzz entry points (built only under `cfg(fuzzing)`, i.e. by cargo-fuzz); the targets in
//! `fuzz/fuzz_targets/` are three-line shims over these.
//!
//! The trusted key is fixed: the imgtool 2.5.0 sample key (test-only), so that mutations of the
//! signed seed images in `fuzz/corpus/image_verify/` get past the key lookup and reach the hash,
//! signature and security-counter checks.
#![allow(clippy::panic, clippy::expect_used)]

#[cfg(feature = "ed25519")]
mod resign;

mod delta;
#[cfg(feature = "ed25519")]
mod release;

pub use delta::delta_apply;
#[cfg(feature = "ed25519")]
pub use release::release_verify;

use crate::{verify_image, ImagePolicy, SliceFlash, TrustedKey, VerifyErrorKind};

/// DER SPKI of `fixtures/third-party/imgtool-2.5.0-samples/ed25519.pem` (test-only key).
pub const TEST_KEY_SPKI: [u8; 44] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0x3a, 0x09, 0x91, 0xca, 0xbc, 0xa5, 0xc6,
    0x63, 0x8a, 0x44, 0x12, 0x7e, 0xe0, 0x81, 0x9a, 0xec, 0x2f, 0x91, 0x38, 0xbf, 0xc0, 0x2c, 0x92, 0x82, 0xeb, 0x7d,
    0x8a, 0xca, 0xcc, 0x8f, 0x71, 0xe9,
];

/// A second, unrelated key (RFC 8032 §7.1 TEST 1 public key), so that the key lookup walks a
/// list as it does during key rotation.
const OTHER_KEY_SPKI: [u8; 44] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0xd7, 0x5a, 0x98, 0x01, 0x82, 0xb1, 0x0a,
    0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1, 0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02,
    0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a,
];

/// Verifies arbitrary bytes as a slot, with several buffer sizes and floors, and checks that
/// the outcome does not depend on the buffer size and agrees with `manifest`'s parser.
pub fn image_verify(data: &[u8]) {
    let keys = [
        TrustedKey::from_spki(&OTHER_KEY_SPKI).expect("other key"),
        TrustedKey::from_spki(&TEST_KEY_SPKI).expect("test key"),
    ];
    let mut first = None;
    // Odd and tiny buffers exercise every chunk boundary of the streaming hash.
    for buf_len in [13usize, 64, 4096] {
        let mut buf = [0u8; 4096];
        let buf = buf.get_mut(..buf_len).expect("buf_len <= 4096");
        let policy = ImagePolicy {
            trusted_keys: &keys,
            security_counter_floor: None,
        };
        let result = verify_image(&mut SliceFlash::new(data), &policy, buf);
        let result = match result {
            // The protected area must fit the buffer; smaller buffers may refuse, never differ.
            Err(e) if e.kind == VerifyErrorKind::BufferTooSmall => continue,
            other => other,
        };
        match first {
            None => first = Some(result),
            Some(previous) => assert_eq!(previous, result, "outcome depends on the buffer size"),
        }
    }
    let Some(Ok(verified)) = first else {
        return;
    };
    // An image the verifier accepts is well-formed for the host-side parser too.
    let view = manifest::image::ImageView::parse(data).expect("verified image does not parse");
    assert_eq!(
        usize::try_from(verified.image_len()).ok(),
        Some(view.image_len()),
        "verifier and parser disagree on the image length"
    );
    assert_eq!(verified.header(), view.header());
    // Anti-rollback: the floor decides exactly as the counter says.
    let counter = verified.security_counter();
    for floor in [0u32, 1, 42, 43, u32::MAX] {
        let policy = ImagePolicy {
            trusted_keys: &keys,
            security_counter_floor: Some(floor),
        };
        let mut buf = [0u8; 256];
        let result = verify_image(&mut SliceFlash::new(data), &policy, &mut buf).map(|v| v.security_counter());
        match counter {
            None => assert_eq!(result.map_err(|e| e.kind), Err(VerifyErrorKind::MissingSecurityCounter)),
            Some(c) if c >= floor => assert_eq!(result, Ok(Some(c))),
            Some(_) => assert_eq!(result.map_err(|e| e.kind), Err(VerifyErrorKind::Rollback)),
        }
    }
}

/// Largest input [`image_verify_resigned`] copies (the CI runs use `-max_len=8192`).
#[cfg(feature = "ed25519")]
const MAX_RESIGNED: usize = 8192;

/// Re-signs the input with the test key (hash, KEYHASH/PUBKEY and ED25519 values rewritten in
/// place for whatever the header now covers), then verifies it: a correctly re-signed image
/// must never fail on its hash or signature, and accepted images must satisfy every
/// [`image_verify`] invariant, including the anti-rollback floor checks.
#[cfg(feature = "ed25519")]
pub fn image_verify_resigned(data: &[u8]) {
    let Some(data) = data.get(..data.len().min(MAX_RESIGNED)) else {
        return;
    };
    let mut copy = [0u8; MAX_RESIGNED];
    let image = copy.get_mut(..data.len()).expect("len <= MAX_RESIGNED");
    image.copy_from_slice(data);
    resign::resign(image);

    let keys = [TrustedKey::from_spki(&TEST_KEY_SPKI).expect("test key")];
    let policy = ImagePolicy {
        trusted_keys: &keys,
        security_counter_floor: None,
    };
    let mut buf = [0u8; 64];
    let original = verify_image(&mut SliceFlash::new(data), &policy, &mut buf);
    if original.is_ok() {
        // Ed25519 is deterministic: re-signing an image the key already signed changes nothing.
        assert!(image == data, "re-signing a valid image changed it");
    }
    match verify_image(&mut SliceFlash::new(image), &policy, &mut buf) {
        Err(e) if matches!(e.kind, VerifyErrorKind::HashMismatch | VerifyErrorKind::BadSignature) => {
            panic!(
                "a re-signed image failed with {:?}: verifier and format disagree on the covered bytes",
                e
            )
        }
        _ => {}
    }
    image_verify(image);
}
