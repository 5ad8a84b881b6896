//! Signature checks per algorithm (bootutil `image_ed25519.c`, `image_ecdsa.c`).

use super::scan::UnprotectedTlvs;
use crate::error::{VerifyError, VerifyErrorKind as Kind};
use crate::hash::HashAlg;
use crate::keys::{KeyAlgorithm, TrustedKey};

/// Which signature an image carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureKind {
    /// Ed25519 over the image digest (imgtool default).
    Ed25519,
    /// Ed25519 over the covered bytes themselves (`--pure`, SIG_PURE TLV).
    Ed25519Pure,
    /// ECDSA P-256 over the SHA-256 digest, DER-encoded.
    EcdsaP256,
}

/// A signature check that may need to see the covered bytes as they stream past (pure mode).
/// Large variants stay unboxed: there is no allocator on the device.
#[allow(clippy::large_enum_variant)]
pub(super) enum Verifier<'a> {
    #[cfg(feature = "ed25519")]
    Ed25519 { key: [u8; 32], signature: [u8; 64] },
    #[cfg(feature = "ed25519")]
    Ed25519Pure(crate::ed25519::Ed25519Verifier),
    #[cfg(feature = "ecdsa-p256")]
    EcdsaP256 { key: TrustedKey<'a>, signature: &'a [u8] },
    #[allow(dead_code)]
    Unreachable(core::marker::PhantomData<&'a ()>),
}

impl<'a> Verifier<'a> {
    pub(super) fn new(
        key: &TrustedKey<'a>,
        tlvs: &'a UnprotectedTlvs,
        hash_alg: HashAlg,
        area_start: u32,
    ) -> Result<Self, VerifyError> {
        let (kind, signature) = tlvs
            .signature()
            .ok_or(VerifyError::new(Kind::MissingSignature, area_start))?;
        let mismatch = VerifyError::new(Kind::SignatureKindMismatch, tlvs.signature_offset);
        let bad = VerifyError::new(Kind::BadSignature, tlvs.signature_offset);
        // Keep the pattern total even when a feature compiles an arm out.
        let _ = (&signature, hash_alg, &bad);
        match (key.algorithm(), kind, tlvs.pure) {
            #[cfg(feature = "ed25519")]
            (KeyAlgorithm::Ed25519, SignatureKind::Ed25519, pure) => {
                let key: [u8; 32] = key.raw().try_into().map_err(|_| mismatch)?;
                let signature: [u8; 64] = signature.try_into().map_err(|_| bad)?;
                if pure {
                    // RFC 8032 §5.1.7 over the covered bytes, streamed.
                    let verifier = crate::ed25519::Ed25519Verifier::new(&key, &signature).ok_or(bad)?;
                    Ok(Self::Ed25519Pure(verifier))
                } else {
                    Ok(Self::Ed25519 { key, signature })
                }
            }
            #[cfg(feature = "ecdsa-p256")]
            (KeyAlgorithm::EcdsaP256, SignatureKind::EcdsaP256, false) if hash_alg == HashAlg::Sha256 => {
                Ok(Self::EcdsaP256 { key: *key, signature })
            }
            (_, _, true) => Err(VerifyError::new(Kind::BadPureFlag, tlvs.signature_offset)),
            _ => Err(mismatch),
        }
    }

    /// Feeds covered bytes (only pure mode consumes them).
    pub(super) fn update(&mut self, chunk: &[u8]) {
        #[cfg(feature = "ed25519")]
        if let Self::Ed25519Pure(stream) = self {
            stream.update(chunk);
        }
        let _ = chunk;
    }

    /// Checks the signature against the finished digest.
    pub(super) fn finish(self, digest: &[u8], signature_offset: u32) -> Result<(), VerifyError> {
        let _ = digest;
        let ok = match self {
            // bootutil image_ed25519.c: ED25519_verify(hash, hash_len, sig, pubkey).
            #[cfg(feature = "ed25519")]
            Self::Ed25519 { key, signature } => crate::ed25519::Ed25519Verifier::verify(&key, &signature, digest),
            #[cfg(feature = "ed25519")]
            Self::Ed25519Pure(stream) => stream.finish(),
            #[cfg(feature = "ecdsa-p256")]
            Self::EcdsaP256 { key, signature } => ecdsa_p256(&key, signature, digest),
            Self::Unreachable(_) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(VerifyError::new(Kind::BadSignature, signature_offset))
        }
    }
}

/// ECDSA-SHA256 over the covered bytes == ECDSA over the prehashed SHA-256 digest (FIPS 186-4 §6.4).
#[cfg(feature = "ecdsa-p256")]
fn ecdsa_p256(key: &TrustedKey<'_>, der_signature: &[u8], digest: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let Ok(verifying_key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(key.raw()) else {
        return false;
    };
    let Ok(signature) = p256::ecdsa::Signature::from_der(der_signature) else {
        return false;
    };
    verifying_key.verify_prehash(digest, &signature).is_ok()
}
