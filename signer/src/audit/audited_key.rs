//! A [`SigningKey`] wrapper that appends an audit record for every signature before handing the
//! signature out. Commands whose library writes the output itself (e.g. `release`, which signs
//! and then writes the bundle) get "no record, no signature, no output" by signing through it.

use std::path::PathBuf;

use super::{append, rfc3339_utc, sha256_hex, AuditEntry};
use crate::failure::Failure;
use crate::keys::{key_hash, KeyAlgorithm, SigningKey};

/// Logs each `sign` to the audit log; a failed append fails the signature.
pub struct AuditedKey<'k> {
    inner: &'k dyn SigningKey,
    log: PathBuf,
    template: AuditEntry,
}

impl std::fmt::Debug for AuditedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditedKey")
            .field("key", &self.inner.describe())
            .field("log", &self.log)
            .finish()
    }
}

impl<'k> AuditedKey<'k> {
    /// `template` is filled with the key's description, hash and algorithm; callers set the
    /// command-specific fields (input, version, sequence, ...) beforehand.
    pub fn new(inner: &'k dyn SigningKey, log: PathBuf, mut template: AuditEntry) -> Result<Self, Failure> {
        template.key = inner.describe();
        template.key_hash = hex::encode(key_hash(&inner.public_spki()?));
        template.algorithm = inner.algorithm().imgtool_name().into();
        Ok(Self { inner, log, template })
    }
}

impl SigningKey for AuditedKey<'_> {
    fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm()
    }

    fn public_spki(&self) -> Result<Vec<u8>, Failure> {
        self.inner.public_spki()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Failure> {
        let signature = self.inner.sign(message)?;
        let mut entry = self.template.clone();
        entry.time = rfc3339_utc(std::time::SystemTime::now());
        entry.signed_message_sha256 = Some(sha256_hex(message));
        append(&self.log, &entry)?;
        Ok(signature)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn is_file_key(&self) -> bool {
        self.inner.is_file_key()
    }
}
