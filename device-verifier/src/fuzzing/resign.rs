//! Re-signing mutated images with the (public, test-only) imgtool sample key, so the fuzzer's
//! mutations of header, padding, body and protected TLVs reach the accept path, the
//! anti-rollback check and everything after the signature — not only "hash mismatch".
//!
//! The layout is worked out from `manifest`'s parsers and FORMAT-NOTES §2, independently of the
//! verifier's own streaming scan, so that any disagreement about what is covered shows up as a
//! `HashMismatch`/`BadSignature` on a correctly re-signed image.

// Fuzz-only code: plain indexing and arithmetic on lengths the parsers just bounded.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::expect_used)]

use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use manifest::image::{ImageHeader, TlvInfo, TlvIter, TlvKind, TLV_INFO_LEN, TLV_INFO_MAGIC};
use sha2::{Digest, Sha256, Sha512};

use super::TEST_KEY_SPKI;

/// PKCS#8 seed of `fixtures/third-party/imgtool-2.5.0-samples/ed25519.pem` (test-only, public).
const TEST_KEY_SEED: [u8; 32] = [
    0xf5, 0x6a, 0x89, 0x23, 0xea, 0x84, 0xd5, 0x36, 0xd8, 0x84, 0x94, 0xda, 0xac, 0xd2, 0x88, 0x92, 0xc5, 0x4a, 0x98,
    0x12, 0x21, 0x13, 0x33, 0x55, 0x77, 0x5e, 0x1f, 0xb9, 0xfb, 0xf3, 0xde, 0x2a,
];

/// RFC 8032 §5.1.6 signing with the test key (deterministic).
fn sign(message: &[u8]) -> [u8; 64] {
    let h = Sha512::digest(TEST_KEY_SEED);
    let (secret, prefix) = h.split_at(32);
    let mut clamped: [u8; 32] = secret.try_into().expect("32 bytes");
    clamped[0] &= 248;
    clamped[31] &= 127;
    clamped[31] |= 64;
    let a = Scalar::from_bytes_mod_order(clamped);
    let public = EdwardsPoint::mul_base(&a).compress();
    let r = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(prefix)
            .chain_update(message)
            .finalize()
            .into(),
    );
    let big_r = EdwardsPoint::mul_base(&r).compress();
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new()
            .chain_update(big_r.as_bytes())
            .chain_update(public.as_bytes())
            .chain_update(message)
            .finalize()
            .into(),
    );
    let s = r + k * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(big_r.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    signature
}

/// Rewrites the hash, KEYHASH and ED25519 values of the unprotected area in place so that they
/// are right for the covered bytes and the test key. Leaves anything it cannot place alone.
pub(super) fn resign(image: &mut [u8]) {
    let Ok(header) = ImageHeader::parse(image) else { return };
    let Some(covered_len) = header.protected_end().and_then(|e| usize::try_from(e).ok()) else {
        return;
    };
    let Some(area) = image.get(covered_len..) else { return };
    let Ok(info) = TlvInfo::parse(area) else { return };
    if info.magic != TLV_INFO_MAGIC {
        return;
    }
    let area_end = covered_len.saturating_add(usize::from(info.total)).min(image.len());
    let entries = image
        .get(covered_len.saturating_add(TLV_INFO_LEN)..area_end)
        .unwrap_or_default();
    // (kind, value offset in `image`, value length) of up to 16 entries.
    let mut found = [(TlvKind(0), 0usize, 0usize); 16];
    let mut count = 0;
    for tlv in TlvIter::new(entries, covered_len.saturating_add(TLV_INFO_LEN)).take(16) {
        let Ok(tlv) = tlv else { break };
        found[count] = (tlv.kind, tlv.offset + 4, tlv.value.len());
        count += 1;
    }
    let found = &found[..count];
    let pure = found.iter().any(|(k, _, _)| *k == TlvKind::SIG_PURE);
    let hash_kind = found.iter().map(|(k, _, _)| *k).find(|k| k.is_hash());
    let sha512 = match hash_kind {
        Some(TlvKind::SHA512) => true,
        Some(_) => false,
        None => pure, // the verifier's rule for pure images without a hash TLV
    };
    let (covered, _) = image.split_at(covered_len);
    let mut digest = [0u8; 64];
    let digest_len = if sha512 {
        digest.copy_from_slice(&Sha512::digest(covered));
        64
    } else {
        digest[..32].copy_from_slice(&Sha256::digest(covered));
        32
    };
    let signature = if pure {
        sign(covered)
    } else {
        sign(&digest[..digest_len])
    };
    let mut keyhash = [0u8; 64];
    if sha512 {
        keyhash.copy_from_slice(&Sha512::digest(TEST_KEY_SPKI));
    } else {
        keyhash[..32].copy_from_slice(&Sha256::digest(TEST_KEY_SPKI));
    }
    for &(kind, at, len) in found {
        let value: &[u8] = match kind {
            TlvKind::SHA256 | TlvKind::SHA512 if len == digest_len => &digest[..digest_len],
            TlvKind::KEYHASH if len == digest_len => &keyhash[..digest_len],
            TlvKind::PUBKEY if len == TEST_KEY_SPKI.len() => &TEST_KEY_SPKI,
            TlvKind::ED25519 if len == 64 => &signature,
            _ => continue,
        };
        if let Some(dst) = image.get_mut(at..at + len) {
            dst.copy_from_slice(value);
        }
    }
}
