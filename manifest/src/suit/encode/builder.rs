//! [`EnvelopeBuilder`]: the one place a SUIT envelope of our profile is put together from its
//! fields and its manifest signatures (docs/FORMATS.md, "SUIT profile", "Envelope as emitted").
//!
//! ```text
//! new(fields, text)          text bstr → its SHA-256 → manifest bstr → SUIT_Digest (SHA-256)
//! to_be_signed(alg, kid)     Sig_structure ["Signature1", << {1: alg, 4: kid} >>, h'', SUIT_Digest]
//! add_signature(alg, kid, s) COSE_Sign1_Tagged 18([ << {1: alg, 4: kid} >>, {}, null, s ])
//! finish()                   107({ 2: << [ digest, + sign1 ] >>, 3: manifest, 23: text })
//! ```
//!
//! The builder never sees a key: each signer signs the bytes [`EnvelopeBuilder::to_be_signed`]
//! returns for its algorithm and hands the signature back.

use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest as _, Sha256};

use super::{digest, envelope, manifest_bstr, protected_header, sig_structure, sign1, text_bstr};
use super::{ManifestFields, TextFields};
use crate::suit::{CoseAlg, KID_LEN, MAX_SIGNATURES, SHA256_LEN};

/// Why an envelope could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The COSE algorithm is not one the profile accepts ([`CoseAlg::is_supported`]).
    UnsupportedAlgorithm(CoseAlg),
    /// A signature whose length is not the algorithm's ([`CoseAlg::signature_len`]).
    SignatureLength {
        alg: CoseAlg,
        expected: usize,
        actual: usize,
    },
    /// More than [`MAX_SIGNATURES`] signatures (the decoder refuses such an envelope).
    TooManySignatures,
    /// [`EnvelopeBuilder::finish`] without a signature (the profile needs at least one).
    NoSignature,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedAlgorithm(alg) => {
                write!(f, "signing algorithm {} is outside the SUIT profile", alg.0)
            }
            Self::SignatureLength { alg, expected, actual } => write!(
                f,
                "{} signatures are {expected} bytes, got {actual}",
                alg.name().unwrap_or("COSE")
            ),
            Self::TooManySignatures => write!(f, "at most {MAX_SIGNATURES} signatures"),
            Self::NoSignature => f.write_str("an envelope needs at least one signature"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for BuildError {}

fn sha256(data: &[u8]) -> [u8; SHA256_LEN] {
    Sha256::digest(data).into()
}

fn check_alg(alg: CoseAlg) -> Result<(), BuildError> {
    if alg.is_supported() {
        Ok(())
    } else {
        Err(BuildError::UnsupportedAlgorithm(alg))
    }
}

/// A SUIT envelope being signed: the manifest and text are encoded and hashed by [`Self::new`];
/// signatures are added one by one; [`Self::finish`] returns the envelope's bytes.
///
/// The output is deterministic (the same fields and signatures give the same bytes) and is
/// exactly what [`crate::suit::Envelope::decode`] accepts. The builder checks what makes an
/// envelope malformed (algorithm, signature length, 1 to [`MAX_SIGNATURES`] signatures), not
/// release policy such as a sequence number of at least 1: that is the caller's.
#[derive(Debug, Clone)]
pub struct EnvelopeBuilder {
    /// The text member as an encoded bstr (its digest is in the manifest).
    text: Vec<u8>,
    /// The manifest as an encoded bstr.
    manifest: Vec<u8>,
    /// The encoded SUIT_Digest of the manifest: the detached COSE payload.
    digest: Vec<u8>,
    sign1s: Vec<Vec<u8>>,
}

impl EnvelopeBuilder {
    /// Encodes the manifest with a severed text member and computes the digest every signer signs.
    pub fn new(fields: &ManifestFields<'_>, text: &TextFields<'_>) -> Self {
        let text = text_bstr(text);
        // draft §8.6, §8.4.12: the manifest holds the digest of the severed text member's
        // encoded bstr (header included).
        let manifest = manifest_bstr(fields, Some(&sha256(&text)));
        // draft §8.3: the SUIT_Digest covers the manifest bstr including its CBOR header.
        let digest = digest(&sha256(&manifest));
        Self {
            text,
            manifest,
            digest,
            sign1s: Vec::new(),
        }
    }

    /// The bytes a signer with algorithm `alg` (and key id `kid`, [`crate::suit::key_id`])
    /// signs: the RFC 9052 §4.4 `Sig_structure` `["Signature1", << {1: alg, 4: kid} >>, h'',
    /// SUIT_Digest]` (COSE_Sign1 with a detached payload, draft §8.3; the algorithm hashes them
    /// if it needs to).
    pub fn to_be_signed(&self, alg: CoseAlg, kid: Option<&[u8; KID_LEN]>) -> Result<Vec<u8>, BuildError> {
        check_alg(alg)?;
        Ok(sig_structure(&protected_header(alg, kid), &self.digest))
    }

    /// Adds a signature made over [`Self::to_be_signed`]`(alg, kid)` as one more `COSE_Sign1_Tagged`
    /// authentication block (RFC 9052 §4.2; draft §8.3). The signature is not verified here
    /// (the builder has no keys); its algorithm and length are.
    pub fn add_signature(
        &mut self,
        alg: CoseAlg,
        kid: Option<&[u8; KID_LEN]>,
        signature: &[u8],
    ) -> Result<(), BuildError> {
        check_alg(alg)?;
        let expected = alg.signature_len();
        if signature.len() != expected {
            return Err(BuildError::SignatureLength {
                alg,
                expected,
                actual: signature.len(),
            });
        }
        if self.sign1s.len() >= MAX_SIGNATURES {
            return Err(BuildError::TooManySignatures);
        }
        self.sign1s.push(sign1(&protected_header(alg, kid), signature));
        Ok(())
    }

    /// Signatures added so far.
    pub fn signature_count(&self) -> usize {
        self.sign1s.len()
    }

    /// The encoded SUIT_Digest of the manifest (the detached payload every signature covers).
    pub fn digest_encoded(&self) -> &[u8] {
        &self.digest
    }

    /// The manifest as an encoded bstr (header included: what the digest covers).
    pub fn manifest_bstr(&self) -> &[u8] {
        &self.manifest
    }

    /// The severable text member as an encoded bstr.
    pub fn text_bstr(&self) -> &[u8] {
        &self.text
    }

    /// The `SUIT_Envelope_Tagged` (draft §8.2): authentication wrapper, manifest, text.
    pub fn finish(self) -> Result<Vec<u8>, BuildError> {
        if self.sign1s.is_empty() {
            return Err(BuildError::NoSignature);
        }
        Ok(envelope(&self.digest, &self.sign1s, &self.manifest, Some(&self.text)))
    }
}
