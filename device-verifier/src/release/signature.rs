//! COSE_Sign1 verification (RFC 9052 §4.4) under the device's trusted manifest keys.

use manifest::suit::{CoseAlg, Sign1, SIG_STRUCTURE_MAX};

use crate::error::{VerifyError, VerifyErrorKind as Kind};
use crate::keys::{KeyAlgorithm, TrustedKey};

/// The key algorithm a COSE algorithm needs (RFC 9864 §2; RFC 9053 §2.1, §2.2).
fn key_algorithm(alg: CoseAlg) -> Option<KeyAlgorithm> {
    match alg {
        CoseAlg::ED25519 | CoseAlg::EDDSA => Some(KeyAlgorithm::Ed25519),
        CoseAlg::ESP256 | CoseAlg::ES256 => Some(KeyAlgorithm::EcdsaP256),
        _ => None,
    }
}

/// Returns the index of the trusted key under which `sign1` verifies over `payload`. Keys not in
/// `already` (those earlier signatures matched) are tried first: k-of-n envelopes then cost k
/// verifications, not k²/2.
pub(super) fn verify(
    sign1: &Sign1<'_>,
    payload: &[u8],
    keys: &[TrustedKey<'_>],
    already: &[usize],
) -> Result<usize, VerifyError> {
    let at = sign1.offset;
    let wanted = key_algorithm(sign1.alg).ok_or(VerifyError::at(Kind::SignatureKindMismatch, at))?;
    // RFC 9052 §4.4: ToBeSigned = ["Signature1", protected, external_aad = h'', payload].
    let mut buf = [0u8; SIG_STRUCTURE_MAX];
    let tbs = sign1
        .sig_structure(payload, &mut buf)
        .ok_or(VerifyError::at(Kind::BufferTooSmall, at))?;
    // RFC 9052 §3.1 kid: a signature naming one of our keys (its `key_id`, docs/FORMATS.md)
    // is checked under that key alone, so a corrupted signature is reported as one, not as an
    // untrusted key. A kid naming none of our keys is an untrusted key.
    if let Some(kid) = sign1.kid {
        let named = keys.iter().enumerate().find(|(_, key)| {
            key.algorithm() == wanted && manifest::suit::key_id(&super::sha256(key.spki()))[..] == *kid
        });
        return match named {
            Some((index, key)) if verify_one(key, tbs, sign1.signature) => Ok(index),
            Some(_) => Err(VerifyError::at(Kind::BadSignature, at)),
            None => Err(VerifyError::at(Kind::UntrustedManifestKey, at)),
        };
    }
    for retry in [false, true] {
        for (index, key) in keys.iter().enumerate() {
            if already.contains(&index) == retry && key.algorithm() == wanted && verify_one(key, tbs, sign1.signature) {
                return Ok(index);
            }
        }
    }
    Err(VerifyError::at(Kind::UntrustedManifestKey, at))
}

fn verify_one(key: &TrustedKey<'_>, tbs: &[u8], signature: &[u8]) -> bool {
    let _ = (tbs, signature);
    match key.algorithm() {
        #[cfg(feature = "ed25519")]
        KeyAlgorithm::Ed25519 => {
            // RFC 8032 §5.1.7 over the ToBeSigned bytes (pure Ed25519, RFC 9053 §2.2).
            let Ok(raw) = <[u8; 32]>::try_from(key.raw()) else {
                return false;
            };
            let Ok(sig) = <[u8; 64]>::try_from(signature) else {
                return false;
            };
            // The crate's own panic-free verifier (see `crate::ed25519` for why not ed25519-dalek).
            crate::ed25519::Ed25519Verifier::verify(&raw, &sig, tbs)
        }
        #[cfg(feature = "ecdsa-p256")]
        KeyAlgorithm::EcdsaP256 => {
            // RFC 9053 §2.1: ECDSA over SHA-256(ToBeSigned), signature r‖s (not DER).
            use p256::ecdsa::signature::Verifier;
            let Ok(vk) = p256::ecdsa::VerifyingKey::from_sec1_bytes(key.raw()) else {
                return false;
            };
            let Ok(sig) = p256::ecdsa::Signature::from_slice(signature) else {
                return false;
            };
            vk.verify(tbs, &sig).is_ok()
        }
        #[allow(unreachable_patterns)]
        _ => false,
    }
}
