//! The signing interface release manifests need, with file-key implementations.
//!
//! The signer's key abstraction (files, PKCS#11 HSM) adapts to [`CoseSigner`] through
//! [`KeyCoseSigner`]; nothing here reads key material from argv or the environment.

use manifest::suit::CoseAlg;

use crate::error::Error;

/// Something that can produce a COSE signature (RFC 9052 §4.4) over a `Sig_structure`.
pub trait CoseSigner {
    /// The COSE algorithm identifier placed in the protected header.
    fn cose_alg(&self) -> i64;
    /// DER SubjectPublicKeyInfo of the verifying key (what devices are provisioned with).
    fn public_spki(&self) -> Vec<u8>;
    /// Signs `msg` (the full ToBeSigned bytes; the algorithm hashes if it needs to). Returns the
    /// COSE signature encoding: 64 bytes R‖S for Ed25519, r‖s for ECDSA P-256 (RFC 9053 §2.1).
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error>;
}

impl CoseSigner for ed25519_dalek::SigningKey {
    /// RFC 9864: Ed25519 = -19 (we emit the fully specified identifier, not EdDSA -8).
    fn cose_alg(&self) -> i64 {
        CoseAlg::ED25519.0
    }

    fn public_spki(&self) -> Vec<u8> {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        self.verifying_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        use ed25519_dalek::Signer;
        let signature = self
            .try_sign(msg)
            .map_err(|e| Error::internal(format!("Ed25519 signing failed: {e}")))?;
        Ok(signature.to_bytes().to_vec())
    }
}

impl CoseSigner for p256::ecdsa::SigningKey {
    /// RFC 9864: ESP256 = -9 (ECDSA P-256 with SHA-256).
    fn cose_alg(&self) -> i64 {
        CoseAlg::ESP256.0
    }

    fn public_spki(&self) -> Vec<u8> {
        use p256::pkcs8::EncodePublicKey;
        self.verifying_key()
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        use p256::ecdsa::signature::Signer;
        // RFC 6979 deterministic ECDSA over SHA-256(msg); fixed-size r‖s encoding.
        let sig: p256::ecdsa::Signature = self
            .try_sign(msg)
            .map_err(|e| Error::internal(format!("ECDSA P-256 signing failed: {e}")))?;
        Ok(sig.to_bytes().to_vec())
    }
}

/// Reads a DER SPKI from a PEM ("PUBLIC KEY") or DER public key file's contents.
pub fn spki_from_public_key(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Ok(bytes.to_vec());
    };
    if !text.contains("-----BEGIN") {
        return Ok(bytes.to_vec());
    }
    use p256::pkcs8::{DecodePublicKey, EncodePublicKey};
    let der = if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(text) {
        key.to_public_key_der()
    } else if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_pem(text) {
        key.to_public_key_der()
    } else {
        return Err(Error::key(
            "not an Ed25519 or P-256 public key (PEM \"PUBLIC KEY\" expected)",
        ));
    };
    der.map(|d| d.as_bytes().to_vec())
        .map_err(|e| Error::internal(format!("cannot encode public key: {e}")))
}

/// Loads a PKCS#8 PEM private key (Ed25519 or P-256) from a file's contents, as a boxed signer.
pub fn signer_from_pkcs8_pem(text: &str) -> Result<Box<dyn CoseSigner>, Error> {
    use p256::pkcs8::DecodePrivateKey;
    if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
        return Ok(Box::new(key));
    }
    if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(text) {
        return Ok(Box::new(key));
    }
    Err(Error::key("not an Ed25519 or P-256 PKCS#8 private key"))
}

/// Any image-signing key (key file or HSM) as a COSE signer.
///
/// [`crate::keys::SigningKey::sign`] signs Ed25519 messages directly and ECDSA P-256 *digests*
/// with a DER result; COSE ESP256 (RFC 9053 §2.1) signs SHA-256(ToBeSigned) and encodes `r‖s`.
pub struct KeyCoseSigner<'k> {
    key: &'k dyn crate::keys::SigningKey,
    spki: Vec<u8>,
}

impl std::fmt::Debug for KeyCoseSigner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCoseSigner")
            .field("key", &self.key.describe())
            .finish()
    }
}

impl<'k> KeyCoseSigner<'k> {
    pub fn new(key: &'k dyn crate::keys::SigningKey) -> Result<Self, Error> {
        let spki = key.public_spki()?;
        Ok(Self { key, spki })
    }
}

impl CoseSigner for KeyCoseSigner<'_> {
    fn cose_alg(&self) -> i64 {
        match self.key.algorithm() {
            crate::keys::KeyAlgorithm::Ed25519 => CoseAlg::ED25519.0,
            crate::keys::KeyAlgorithm::EcdsaP256 => CoseAlg::ESP256.0,
        }
    }

    fn public_spki(&self) -> Vec<u8> {
        self.spki.clone()
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        match self.key.algorithm() {
            crate::keys::KeyAlgorithm::Ed25519 => self.key.sign(msg),
            crate::keys::KeyAlgorithm::EcdsaP256 => {
                use sha2::Digest;
                let der = self.key.sign(&sha2::Sha256::digest(msg))?;
                let sig = p256::ecdsa::Signature::from_der(&der)
                    .map_err(|e| Error::internal(format!("the key returned a malformed ECDSA signature: {e}")))?;
                Ok(sig.to_bytes().to_vec())
            }
        }
    }
}
