//! Ed25519 verification (RFC 8032 §5.1.7) built from curve25519-dalek's constant-time
//! primitives, so that no panic path is reachable on the device.
//!
//! Why not `ed25519_dalek::VerifyingKey::verify_strict` / `StreamVerifier`: both end in
//! curve25519-dalek's `vartime_double_scalar_mul_basepoint`, whose `NafLookupTable5::select`
//! indexes `self.0[x / 2]` with a NAF digit the optimizer cannot bound
//! (`curve25519-dalek-4.1.3/src/window.rs:191`). The bounds check stays in the Cortex-M4 binary
//! and the panic-freedom link check (`embedded/no-panic-check`) fails on it. Computing
//! `[S]B - [k]A` with `EdwardsPoint::mul_base` and a fixed-window variable-base multiplication
//! (whose table lookups are constant-time scans over all entries) has no such index.
//!
//! The checks match `verify_strict`: canonical S, R and A decode, neither R nor A has small
//! order, and the recomputed R equals the encoded R byte for byte (cofactorless equation).

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

/// A signature check in progress: `SHA-512(R ‖ A ‖ M)` is fed the message as it streams past.
#[derive(Clone)]
pub(crate) struct Ed25519Verifier {
    minus_a: EdwardsPoint,
    r_bytes: [u8; 32],
    s: Scalar,
    hasher: Sha512,
}

impl core::fmt::Debug for Ed25519Verifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Ed25519Verifier")
    }
}

impl Ed25519Verifier {
    /// Decodes the public key and signature; `None` if either is malformed or weak.
    pub(crate) fn new(public_key: &[u8; 32], signature: &[u8; 64]) -> Option<Self> {
        let (r_half, s_half) = signature.split_at(32);
        let r_bytes: [u8; 32] = r_half.try_into().ok()?;
        let s_bytes: [u8; 32] = s_half.try_into().ok()?;
        // RFC 8032 §5.1.7 step 1: S must be in range 0 <= S < L; A and R must decode as points.
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
        let a = CompressedEdwardsY(*public_key).decompress()?;
        let r = CompressedEdwardsY(r_bytes).decompress()?;
        // ed25519-dalek `verify_strict`: refuse small-order (weak) keys and R values, which
        // would let one signature verify for many messages.
        if a.is_small_order() || r.is_small_order() {
            return None;
        }
        let mut hasher = Sha512::new();
        // RFC 8032 §5.1.7 step 2: k = SHA-512(dom2(F, C) ‖ R ‖ A ‖ PH(M)); dom2 is empty for Ed25519.
        hasher.update(r_bytes);
        hasher.update(public_key);
        Some(Self {
            minus_a: core::ops::Neg::neg(a),
            r_bytes,
            s,
            hasher,
        })
    }

    /// Feeds message bytes.
    pub(crate) fn update(&mut self, message: &[u8]) {
        self.hasher.update(message);
    }

    /// RFC 8032 §5.1.7 step 3 (cofactorless, as `verify_strict`): `[S]B - [k]A` encodes to R.
    // The operators below are group operations on curve points and scalars mod L, which cannot
    // overflow; `arithmetic_side_effects` is about integers.
    #[allow(clippy::arithmetic_side_effects)]
    pub(crate) fn finish(self) -> bool {
        let k = Scalar::from_bytes_mod_order_wide(&self.hasher.finalize().into());
        let expected = EdwardsPoint::mul_base(&self.s) + k * self.minus_a;
        expected.compress().to_bytes() == self.r_bytes
    }

    /// One-shot check of a whole message.
    pub(crate) fn verify(public_key: &[u8; 32], signature: &[u8; 64], message: &[u8]) -> bool {
        match Self::new(public_key, signature) {
            Some(mut verifier) => {
                verifier.update(message);
                verifier.finish()
            }
            None => false,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::as_conversions
)]
mod tests {
    //! Differential tests against ed25519-dalek's `verify_strict`, the behaviour we replace.
    use super::Ed25519Verifier;
    use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

    fn keypair(seed: u8) -> (SigningKey, [u8; 32]) {
        let signing = SigningKey::from_bytes(&[seed; 32]);
        let public = signing.verifying_key().to_bytes();
        (signing, public)
    }

    fn strict(public: &[u8; 32], sig: &[u8; 64], msg: &[u8]) -> bool {
        let key = VerifyingKey::from_bytes(public).unwrap();
        key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
    }

    #[test]
    fn tamper_agrees_with_verify_strict() {
        for seed in 0..4u8 {
            let (signing, public) = keypair(seed);
            let msg = [seed; 33];
            let sig = signing.sign(&msg).to_bytes();
            assert!(Ed25519Verifier::verify(&public, &sig, &msg));
            // Every single-bit flip across R and S.
            for bit in 0..(64 * 8) {
                let mut bad = sig;
                bad[bit / 8] ^= 1 << (bit % 8);
                assert_eq!(
                    Ed25519Verifier::verify(&public, &bad, &msg),
                    strict(&public, &bad, &msg),
                    "bit {bit}"
                );
            }
            let mut bad_msg = msg;
            bad_msg[0] ^= 1;
            assert!(!Ed25519Verifier::verify(&public, &sig, &bad_msg));
        }
    }

    #[test]
    fn streamed_equals_one_shot() {
        let (signing, public) = keypair(7);
        let mut msg = [0u8; 1000];
        for (i, b) in msg.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let sig = signing.sign(&msg).to_bytes();
        let mut v = Ed25519Verifier::new(&public, &sig).unwrap();
        for chunk in msg.chunks(97) {
            v.update(chunk);
        }
        assert!(v.finish());
    }

    #[test]
    fn non_canonical_s_is_refused() {
        let (signing, public) = keypair(3);
        let msg = b"m";
        let mut sig = signing.sign(msg).to_bytes();
        // S + L is the same scalar mod L but not canonical (RFC 8032 §5.1.7 step 1).
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
            sig[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert!(!Ed25519Verifier::verify(&public, &sig, msg));
        assert!(!strict(&public, &sig, msg));
    }

    #[test]
    fn small_order_r_and_key_are_refused() {
        // The identity point (y = 1) has order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let (_, public) = keypair(1);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&identity);
        assert!(Ed25519Verifier::new(&public, &sig).is_none());
        assert!(Ed25519Verifier::new(&identity, &[0u8; 64]).is_none());
    }
}
