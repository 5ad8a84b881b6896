//! Keys: what signs (a [`SigningKey`]: a development key file, or a key inside an HSM reached
//! through PKCS#11) and what is trusted (DER SubjectPublicKeyInfo bytes, as MCUboot embeds them).

mod file;
pub mod pkcs11;

use sha2::{Digest, Sha256};

pub use file::{generate_file_key, load_file_key, load_public_spki, FileKey};

use crate::error::Error;

/// Algorithms the signer can sign images with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyAlgorithm {
    Ed25519,
    EcdsaP256,
}

impl KeyAlgorithm {
    /// imgtool's `-t` spelling.
    pub fn imgtool_name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa-p256",
        }
    }

    /// imgtool's `shortname()`, used in generated C/Rust identifiers.
    pub fn short_name(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::EcdsaP256 => "ecdsa",
        }
    }
}

impl std::str::FromStr for KeyAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "ed25519" => Ok(Self::Ed25519),
            "ecdsa-p256" => Ok(Self::EcdsaP256),
            other => {
                Err(Error::usage(format!("unsupported key type {other:?}"))
                    .with_hint("use -t ed25519 or -t ecdsa-p256"))
            }
        }
    }
}

/// Something that can sign: a key file or a key inside an HSM.
pub trait SigningKey {
    fn algorithm(&self) -> KeyAlgorithm;

    /// DER SubjectPublicKeyInfo of the public half (what `getpub` prints and KEYHASH hashes).
    fn public_spki(&self) -> Result<Vec<u8>, Error>;

    /// Ed25519: PureEdDSA (RFC 8032) over `message`.
    /// ECDSA P-256: `message` is a SHA-256 digest; returns the DER `SEQUENCE { r, s }`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error>;

    /// Where the key lives, for logs and the audit trail (never secret material).
    fn describe(&self) -> String;

    /// True for keys held in files (development); false for HSM keys.
    fn is_file_key(&self) -> bool;
}

/// SHA-256 of the DER SPKI: MCUboot's KEYHASH and `getpubhash`.
pub fn key_hash(spki: &[u8]) -> [u8; 32] {
    Sha256::digest(spki).into()
}

/// True if `-k` names a key in a PKCS#11 token (an RFC 7512 URI) rather than a file.
pub fn is_pkcs11(spec: &str) -> bool {
    pkcs11::Pkcs11Uri::is_pkcs11(spec)
}

/// Opens the key named by `-k`: a key file, or a `pkcs11:` URI (logs in to the token).
///
/// Signatures made with the returned key are not audited: the commands open keys with
/// [`crate::audit::AuditedKey::open`] instead, which records every signature before it is used.
pub fn open_signing_key(spec: &str) -> Result<Box<dyn SigningKey>, Error> {
    if is_pkcs11(spec) {
        return Ok(Box::new(pkcs11::Pkcs11Key::open(spec)?));
    }
    Ok(Box::new(load_file_key(std::path::Path::new(spec))?))
}

/// The public key (DER SPKI) named by `-k`: a private or public key file, or a `pkcs11:` URI
/// (read without a PIN where the token allows it).
pub fn load_public_key(spec: &str) -> Result<Vec<u8>, Error> {
    if is_pkcs11(spec) {
        return pkcs11::public_spki_from_uri(spec).map(|(_, spki)| spki);
    }
    load_public_spki(std::path::Path::new(spec))
}
