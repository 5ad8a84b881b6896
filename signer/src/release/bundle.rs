//! The release bundle on disk: `release.suit`, the image, patches, `release.json`.

use std::path::Path;

use serde::Serialize;

use super::{sha256, ReleaseInput, SignatureSummary};
use crate::error::{Error, ErrorKind};

/// File name of the signed envelope in a bundle.
pub const ENVELOPE_FILE: &str = "release.suit";
/// File name of the summary in a bundle.
pub const SUMMARY_FILE: &str = "release.json";

/// A file in the bundle.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileSummary {
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

impl FileSummary {
    fn of(file: &str, bytes: &[u8]) -> Self {
        Self {
            file: file.to_owned(),
            size: bytes.len() as u64,
            sha256: hex::encode(sha256(bytes)),
        }
    }
}

/// A delta patch in the summary.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeltaSummary {
    pub format: u64,
    pub precursor_sha256: String,
    pub precursor_size: u64,
    pub patch: FileSummary,
}

/// `release.json`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReleaseSummary {
    pub sequence: u64,
    pub vendor_domain: String,
    pub vendor_id: String,
    pub class_name: String,
    pub class_id: String,
    pub version: String,
    pub notes: String,
    pub install_uri: String,
    pub envelope: FileSummary,
    pub image: FileSummary,
    pub signatures: Vec<SignatureSummary>,
    pub deltas: Vec<DeltaSummary>,
}

/// Everything a release consists of, in memory.
#[derive(Debug, Clone)]
pub struct ReleaseBundle {
    pub envelope: Vec<u8>,
    pub image: Vec<u8>,
    pub image_name: String,
    pub patches: Vec<(String, Vec<u8>)>,
    pub summary: ReleaseSummary,
}

impl ReleaseBundle {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        envelope: Vec<u8>,
        image: Vec<u8>,
        input: &ReleaseInput,
        install_uri: String,
        vendor: uuid::Uuid,
        class: uuid::Uuid,
        signatures: Vec<SignatureSummary>,
        patches: Vec<(String, Vec<u8>)>,
        precursors: &[Vec<u8>],
    ) -> Self {
        let deltas = input
            .deltas
            .iter()
            .zip(precursors)
            .map(|(d, pre)| DeltaSummary {
                format: d.format,
                precursor_sha256: hex::encode(sha256(pre)),
                precursor_size: pre.len() as u64,
                patch: FileSummary::of(&d.file_name, &d.patch),
            })
            .collect();
        let summary = ReleaseSummary {
            sequence: input.sequence,
            vendor_domain: input.vendor_domain.clone(),
            vendor_id: vendor.to_string(),
            class_name: input.class_name.clone(),
            class_id: class.to_string(),
            version: input.version.clone(),
            notes: input.notes.clone(),
            install_uri,
            envelope: FileSummary::of(ENVELOPE_FILE, &envelope),
            image: FileSummary::of(&input.image_name, &image),
            signatures,
            deltas,
        };
        Self {
            envelope,
            image,
            image_name: input.image_name.clone(),
            patches,
            summary,
        }
    }

    /// The files to write, in order (summary last, so its presence means the bundle is complete).
    fn files(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let mut files = vec![(ENVELOPE_FILE.to_owned(), self.envelope.clone())];
        files.push((self.image_name.clone(), self.image.clone()));
        files.extend(self.patches.iter().cloned());
        let mut json = serde_json::to_vec_pretty(&self.summary)
            .map_err(|e| Error::internal(format!("cannot encode {SUMMARY_FILE}: {e}")))?;
        json.push(b'\n');
        files.push((SUMMARY_FILE.to_owned(), json));
        Ok(files)
    }

    /// Writes the bundle into `dir` (created if missing). Refuses to overwrite any file; each file
    /// is written to a temporary name, synced, then linked into place without clobbering. On a
    /// failure the files already written by this call are removed.
    pub fn write_bundle(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format_args!("creating {}", dir.display()), &e))?;
        let files = self.files()?;
        for (name, _) in &files {
            if name.contains('/') || name.contains('\\') || name.is_empty() || name == ".." {
                return Err(Error::usage(format!(
                    "bundle file name {name:?} must be a plain file name"
                )));
            }
            let path = dir.join(name);
            if path.exists() {
                return Err(Error::new(
                    ErrorKind::OutputExists,
                    format!("{} already exists; refusing to overwrite", path.display()),
                )
                .with_hint("choose a new output directory (-o)"));
            }
        }
        // All or nothing: if a later file fails (disk full, ...), remove what this call wrote so
        // no half bundle is left behind to be mistaken for a release or to block a retry.
        let mut written = Vec::with_capacity(files.len());
        for (name, bytes) in &files {
            let path = dir.join(name);
            if let Err(error) = write_new(&path, bytes) {
                for done in &written {
                    let _ = std::fs::remove_file(done);
                }
                return Err(error);
            }
            written.push(path);
        }
        Ok(())
    }
}

/// Atomic, no-clobber write (the signer's shared [`crate::output::write_atomic`]).
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    crate::output::write_atomic(path, bytes, crate::output::Overwrite::Refuse)
}

/// Atomic replace (for state files that are meant to be updated).
pub fn replace(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format_args!("creating {}", dir.display()), &e))?;
    }
    crate::output::write_atomic(path, bytes, crate::output::Overwrite::Replace)
}
