//! Key files: PKCS#8 PEM as imgtool writes them (`BEGIN PRIVATE KEY`), SEC1 EC keys, and public
//! keys (`BEGIN PUBLIC KEY`) for verification.

use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::LineEnding;
use pkcs8::der::Decode;

use super::{KeyAlgorithm, SigningKey};
use crate::error::Error;
use crate::output::{write_atomic_with_mode, Overwrite};

/// id-Ed25519 (RFC 8410 §3).
const OID_ED25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
/// id-ecPublicKey (RFC 5480 §2.1.1).
const OID_EC_PUBLIC_KEY: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

enum Secret {
    Ed25519(ed25519_dalek::SigningKey),
    EcdsaP256(p256::ecdsa::SigningKey),
}

/// A private key loaded from a file.
pub struct FileKey {
    secret: Secret,
    path: PathBuf,
}

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKey")
            .field("path", &self.path)
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

/// A key file is a few hundred bytes of PEM; more than 64 KiB is not one.
fn read_key_file(path: &Path) -> Result<Vec<u8>, Error> {
    crate::input::read_bounded(path, 64 * 1024, "key")
}

fn not_a_key(path: &Path, what: &str) -> Error {
    Error::key(format!("{} is not a usable key: {what}", path.display()))
        .with_hint("expected a PKCS#8 PEM private key (signer keygen / imgtool keygen) or a PEM public key")
}

/// Splits PEM into (label, DER); DER input is passed through with an empty label.
fn pem_or_der(path: &Path, bytes: &[u8]) -> Result<(String, Vec<u8>), Error> {
    if bytes.starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(bytes).map_err(|_| not_a_key(path, "PEM is not UTF-8"))?;
        let (label, der) =
            pkcs8::der::pem::decode_vec(text.as_bytes()).map_err(|e| not_a_key(path, &format!("bad PEM ({e})")))?;
        Ok((label.to_string(), der))
    } else {
        Ok((String::new(), bytes.to_vec()))
    }
}

/// Loads a private key from a PKCS#8 (or SEC1 EC) file.
pub fn load_file_key(path: &Path) -> Result<FileKey, Error> {
    let bytes = read_key_file(path)?;
    let (label, der) = pem_or_der(path, &bytes)?;
    let secret =
        match label.as_str() {
            "ENCRYPTED PRIVATE KEY" => return Err(Error::key(format!("{} is passphrase-protected", path.display()))
                .with_hint(
                    "passphrase-protected key files are not supported; keep production keys in an HSM (-k pkcs11:...)",
                )),
            "PUBLIC KEY" => {
                return Err(Error::key(format!(
                    "{} holds only a public key; signing needs the private key",
                    path.display()
                ))
                .with_hint("pass the private key file made by `signer keygen`"))
            }
            "EC PRIVATE KEY" => Secret::EcdsaP256(
                p256::SecretKey::from_sec1_der(&der)
                    .map_err(|e| not_a_key(path, &format!("bad SEC1 P-256 key ({e})")))?
                    .into(),
            ),
            _ => {
                let info =
                    pkcs8::PrivateKeyInfo::from_der(&der).map_err(|e| not_a_key(path, &format!("not PKCS#8 ({e})")))?;
                if info.algorithm.oid == OID_ED25519 {
                    Secret::Ed25519(
                        ed25519_dalek::SigningKey::from_pkcs8_der(&der)
                            .map_err(|e| not_a_key(path, &format!("bad Ed25519 key ({e})")))?,
                    )
                } else if info.algorithm.oid == OID_EC_PUBLIC_KEY {
                    let key = p256::SecretKey::from_pkcs8_der(&der).map_err(|_| {
                        not_a_key(path, "an EC key that is not on P-256")
                            .with_hint("only ed25519 and ecdsa-p256 keys are supported")
                    })?;
                    Secret::EcdsaP256(key.into())
                } else {
                    return Err(
                        not_a_key(path, &format!("unsupported algorithm {}", info.algorithm.oid))
                            .with_hint("only ed25519 and ecdsa-p256 keys are supported (RSA is not)"),
                    );
                }
            }
        };
    Ok(FileKey {
        secret,
        path: path.to_path_buf(),
    })
}

/// DER SPKI from a private key file or a public key file.
pub fn load_public_spki(path: &Path) -> Result<Vec<u8>, Error> {
    let bytes = read_key_file(path)?;
    let (label, der) = pem_or_der(path, &bytes)?;
    if label == "PUBLIC KEY" || (label.is_empty() && device_verifier::TrustedKey::from_spki(&der).is_some()) {
        if device_verifier::TrustedKey::from_spki(&der).is_none() {
            return Err(not_a_key(path, "public key is neither Ed25519 nor P-256"));
        }
        return Ok(der);
    }
    load_file_key(path)?.public_spki()
}

impl FileKey {
    /// Raw Ed25519 seed, for tests that import the same key into an HSM.
    pub fn ed25519_seed(&self) -> Option<[u8; 32]> {
        match &self.secret {
            Secret::Ed25519(key) => Some(key.to_bytes()),
            Secret::EcdsaP256(_) => None,
        }
    }
}

impl SigningKey for FileKey {
    fn algorithm(&self) -> KeyAlgorithm {
        match self.secret {
            Secret::Ed25519(_) => KeyAlgorithm::Ed25519,
            Secret::EcdsaP256(_) => KeyAlgorithm::EcdsaP256,
        }
    }

    fn public_spki(&self) -> Result<Vec<u8>, Error> {
        let der = match &self.secret {
            Secret::Ed25519(key) => key.verifying_key().to_public_key_der(),
            Secret::EcdsaP256(key) => p256::PublicKey::from(key.verifying_key()).to_public_key_der(),
        };
        der.map(|d| d.as_bytes().to_vec())
            .map_err(|e| Error::internal(format!("cannot encode public key: {e}")))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.secret {
            Secret::Ed25519(key) => Ok(key.sign(message).to_bytes().to_vec()),
            Secret::EcdsaP256(key) => {
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(message)
                    .map_err(|e| Error::internal(format!("ECDSA signing failed: {e}")))?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
        }
    }

    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }

    fn is_file_key(&self) -> bool {
        true
    }
}

/// Generates a key file as imgtool does: unencrypted PKCS#8 PEM (v1 for Ed25519, 48-byte DER).
pub fn generate_file_key(algorithm: KeyAlgorithm, path: &Path, overwrite: Overwrite) -> Result<FileKey, Error> {
    let mut rng = rand_core::OsRng;
    let (secret, pem) = match algorithm {
        KeyAlgorithm::Ed25519 => {
            let key = ed25519_dalek::SigningKey::generate(&mut rng);
            // PKCS#8 v1 without the optional public key: byte-identical in shape to imgtool's.
            let pem = ed25519_dalek::pkcs8::KeypairBytes {
                secret_key: key.to_bytes(),
                public_key: None,
            }
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| Error::internal(format!("cannot encode key: {e}")))?;
            (Secret::Ed25519(key), pem)
        }
        KeyAlgorithm::EcdsaP256 => {
            let key = p256::SecretKey::random(&mut rng);
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| Error::internal(format!("cannot encode key: {e}")))?;
            (Secret::EcdsaP256(key.into()), pem)
        }
    };
    write_atomic_with_mode(path, pem.as_bytes(), overwrite, Some(0o600))?;
    Ok(FileKey {
        secret,
        path: path.to_path_buf(),
    })
}
