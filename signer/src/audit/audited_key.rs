//! [`AuditedKey`]: how the `signer` commands sign. It owns the key and hands out a signature —
//! or the output made from it — only after the audit record of that signature is on disk. A
//! record that cannot be written fails the signature, so nothing signed is output.
//!
//! * `release` passes it (as a [`SigningKey`]) to the library, which signs the manifest and then
//!   writes the bundle: one record per signature, before the bundle exists.
//! * `sign` uses [`AuditedKey::sign_output`]: the signature goes straight into the image, and the
//!   record names the SHA-256 of the exact bytes that will be written.

use std::path::PathBuf;

use super::{append, rfc3339_utc, sha256_hex, AuditEntry};
use crate::error::Error;
use crate::image::{PreparedImage, SignSettings, SignedImage};
use crate::keys::{key_hash, open_signing_key, KeyAlgorithm, SigningKey};

/// A signing key whose every signature is appended to the audit log first.
pub struct AuditedKey {
    inner: Box<dyn SigningKey>,
    log: PathBuf,
    template: AuditEntry,
}

impl std::fmt::Debug for AuditedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditedKey")
            .field("key", &self.inner.describe())
            .field("log", &self.log)
            .finish()
    }
}

impl AuditedKey {
    /// Opens the key `-k` names (a key file or a `pkcs11:` URI, which may ask for the PIN) for
    /// signing through the audit log at `log`. See [`AuditedKey::new`] for `template`.
    pub fn open(spec: &str, log: PathBuf, template: AuditEntry) -> Result<Self, Error> {
        Self::new(open_signing_key(spec)?, log, template)
    }

    /// Wraps `inner`. `template` holds the command's fields (command, input, output, version,
    /// sequence, ...); the key's description, hash and algorithm are filled in here, the time
    /// and what was signed at each signature.
    pub fn new(inner: Box<dyn SigningKey>, log: PathBuf, mut template: AuditEntry) -> Result<Self, Error> {
        template.key = inner.describe();
        template.key_hash = hex::encode(key_hash(&inner.public_spki()?));
        template.algorithm = inner.algorithm().imgtool_name().into();
        Ok(Self { inner, log, template })
    }

    /// Signs `message`, lets `finish` turn the signature into the exact bytes the command will
    /// write, appends the record — with `signed_digest` (the image hash, for images) and the
    /// SHA-256 of those bytes — and only then returns them, with `finish`'s other result.
    /// If `finish` or the record fails, the signature is dropped and nothing is returned.
    pub fn sign_output<T>(
        &self,
        message: &[u8],
        signed_digest: Option<&[u8]>,
        finish: impl FnOnce(&[u8]) -> Result<(Vec<u8>, T), Error>,
    ) -> Result<(Vec<u8>, T), Error> {
        let signature = self.inner.sign(message)?;
        let (output, made) = finish(&signature)?;
        self.record(message, signed_digest, Some(&output))?;
        Ok((output, made))
    }

    /// Builds and signs an MCUboot image as [`crate::image::sign_image`] does, through the log:
    /// the record (with the image hash as the signed digest and the SHA-256 of the returned
    /// image) is on disk before the image is returned.
    pub fn sign_image(&self, input: &[u8], settings: &SignSettings) -> Result<SignedImage, Error> {
        let prepared = PreparedImage::new(input, settings, self.inner.algorithm(), self.inner.public_spki()?)?;
        let message = prepared.message().to_vec();
        let digest = prepared.digest().to_vec();
        let (_, signed) = self.sign_output(&message, Some(&digest), |signature| {
            let signed = prepared.finish(signature)?;
            Ok((signed.bytes.clone(), signed))
        })?;
        Ok(signed)
    }

    /// The log this key records to.
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }

    fn record(&self, message: &[u8], signed_digest: Option<&[u8]>, output: Option<&[u8]>) -> Result<(), Error> {
        let mut entry = self.template.clone();
        entry.time = rfc3339_utc(std::time::SystemTime::now());
        entry.signed_message_sha256 = Some(sha256_hex(message));
        if let Some(digest) = signed_digest {
            entry.signed_digest = Some(hex::encode(digest));
        }
        if let Some(output) = output {
            entry.output_sha256 = Some(sha256_hex(output));
        }
        append(&self.log, &entry)
    }
}

impl SigningKey for AuditedKey {
    fn algorithm(&self) -> KeyAlgorithm {
        self.inner.algorithm()
    }

    fn public_spki(&self) -> Result<Vec<u8>, Error> {
        self.inner.public_spki()
    }

    /// Signs, appends the record, then returns the signature.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let signature = self.inner.sign(message)?;
        self.record(message, None, None)?;
        Ok(signature)
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn is_file_key(&self) -> bool {
        self.inner.is_file_key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::read_log;
    use crate::error::ErrorKind;

    fn dev_key(dir: &std::path::Path) -> Box<dyn SigningKey> {
        let path = dir.join("k.pem");
        let key = crate::keys::generate_file_key(KeyAlgorithm::Ed25519, &path, crate::output::Overwrite::Refuse)
            .expect("key");
        Box::new(key)
    }

    #[test]
    fn every_signature_is_recorded_before_it_is_returned() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("audit.jsonl");
        let mut template = AuditEntry::for_command("sign");
        template.version = Some("1.2.3+4".into());
        let key = AuditedKey::new(dev_key(dir.path()), log.clone(), template).expect("wrap");
        key.sign(b"manifest").expect("sign");
        let (output, made) = key
            .sign_output(b"digest", Some(b"digest"), |signature| {
                Ok(([b"image:".as_slice(), signature].concat(), 7))
            })
            .expect("sign_output");
        assert_eq!(made, 7);
        let entries = read_log(&log).expect("log");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].signed_message_sha256, Some(sha256_hex(b"manifest")));
        assert_eq!(entries[0].output_sha256, None);
        assert_eq!(entries[1].output_sha256, Some(sha256_hex(&output)));
        assert_eq!(entries[1].signed_digest, Some(hex::encode(b"digest")));
        assert_eq!(entries[1].algorithm, "ed25519");
        assert!(entries[1].key.starts_with("file:"));
        assert_eq!(entries[1].version.as_deref(), Some("1.2.3+4"));
    }

    #[test]
    fn unwritable_log_means_no_signature_and_no_output() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory cannot be opened for appending.
        let key = AuditedKey::new(
            dev_key(dir.path()),
            dir.path().to_path_buf(),
            AuditEntry::for_command("sign"),
        )
        .expect("wrap");
        let error = key.sign(b"m").expect_err("signature without a record");
        assert_eq!(error.kind(), ErrorKind::Audit);
        let error = key
            .sign_output(b"m", None, |s| Ok((s.to_vec(), ())))
            .expect_err("output without a record");
        assert_eq!(error.kind(), ErrorKind::Audit);
        assert!(error.hint().is_some_and(|h| h.contains("--audit-log")));
    }
}
