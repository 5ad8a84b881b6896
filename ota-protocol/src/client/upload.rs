//! A release bundle as the upload endpoint takes it: `multipart/form-data` with the files of a
//! `signer release` output directory by field name (ota-server/src/http/ingest.rs):
//! `envelope` (`release.suit`), `image`, `patch` (each `delta-from-*.patch`, zero or more),
//! `summary` (`release.json`, optional; the server cross-checks it, never trusts it).

use std::path::{Path, PathBuf};

use reqwest::multipart::{Form, Part};

use super::ClientError;

/// The signed SUIT envelope in a bundle directory.
pub const ENVELOPE_FILE: &str = "release.suit";
/// The summary `signer release` writes last.
pub const SUMMARY_FILE: &str = "release.json";

/// One file of a bundle: its name (sent as the part's file name) and contents.
#[derive(Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub file_name: String,
    pub bytes: Vec<u8>,
}

impl BundleFile {
    pub fn new(file_name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            file_name: file_name.into(),
            bytes,
        }
    }

    fn part(&self) -> Part {
        Part::bytes(self.bytes.clone()).file_name(self.file_name.clone())
    }
}

impl std::fmt::Debug for BundleFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} bytes)", self.file_name, self.bytes.len())
    }
}

/// The parts of one release upload. A complete bundle has an envelope and an image; the fields
/// are public so that a test can send an incomplete or altered one (the server refuses it with
/// `bundle_incomplete`, `unexpected_artifact`, ...).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReleaseUpload {
    pub envelope: Option<BundleFile>,
    pub image: Option<BundleFile>,
    pub patches: Vec<BundleFile>,
    pub summary: Option<BundleFile>,
}

impl ReleaseUpload {
    /// A bundle of the signed envelope and the signed image (`image_name` as in the bundle).
    pub fn new(envelope: Vec<u8>, image_name: impl Into<String>, image: Vec<u8>) -> Self {
        Self {
            envelope: Some(BundleFile::new(ENVELOPE_FILE, envelope)),
            image: Some(BundleFile::new(image_name, image)),
            patches: Vec::new(),
            summary: None,
        }
    }

    /// Adds a delta patch.
    pub fn with_patch(mut self, file_name: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.patches.push(BundleFile::new(file_name, bytes));
        self
    }

    /// Adds `release.json`.
    pub fn with_summary(mut self, bytes: Vec<u8>) -> Self {
        self.summary = Some(BundleFile::new(SUMMARY_FILE, bytes));
        self
    }

    /// Reads a `signer release` output directory: `release.suit`, the image, the
    /// `delta-from-*.patch` files and `release.json`. With `release.json` the image and the
    /// patches are the files it names; without it, the patches are the `delta-from-*.patch`
    /// files and the image is the one other file.
    pub fn from_dir(dir: &Path) -> Result<Self, ClientError> {
        let bundle_error = |path: PathBuf, message: String| ClientError::Bundle { path, message };
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path)
                .map(|bytes| BundleFile::new(name, bytes))
                .map_err(|e| bundle_error(path, e.to_string()))
        };
        if !dir.join(ENVELOPE_FILE).is_file() {
            return Err(bundle_error(
                dir.to_path_buf(),
                format!("no {ENVELOPE_FILE}: not a `signer release` output directory"),
            ));
        }
        let envelope = read(ENVELOPE_FILE)?;
        let (image, patches, summary) = if dir.join(SUMMARY_FILE).is_file() {
            let summary = read(SUMMARY_FILE)?;
            let (image, patches) =
                named_in_summary(&summary.bytes).map_err(|m| bundle_error(dir.join(SUMMARY_FILE), m))?;
            let patches = patches.iter().map(|p| read(p)).collect::<Result<Vec<_>, _>>()?;
            (read(&image)?, patches, Some(summary))
        } else {
            let (image, patches) = by_listing(dir)?;
            let patches = patches.iter().map(|p| read(p)).collect::<Result<Vec<_>, _>>()?;
            (read(&image)?, patches, None)
        };
        Ok(Self {
            envelope: Some(envelope),
            image: Some(image),
            patches,
            summary,
        })
    }

    /// The `multipart/form-data` body.
    pub(crate) fn form(&self) -> Form {
        let mut form = Form::new();
        if let Some(e) = &self.envelope {
            form = form.part("envelope", e.part());
        }
        if let Some(i) = &self.image {
            form = form.part("image", i.part());
        }
        for p in &self.patches {
            form = form.part("patch", p.part());
        }
        if let Some(s) = &self.summary {
            form = form.part("summary", s.part());
        }
        form
    }
}

/// A file name from `release.json` must name a file in the bundle directory, nothing else.
fn plain_file_name(name: &str) -> Result<&str, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
        return Err(format!("{name:?} is not a plain file name"));
    }
    Ok(name)
}

/// The image and patch file names `release.json` names (`image.file`, `deltas[].patch.file`).
fn named_in_summary(json: &[u8]) -> Result<(String, Vec<String>), String> {
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
    let image = v["image"]["file"]
        .as_str()
        .ok_or_else(|| "no image.file".to_owned())
        .and_then(plain_file_name)?
        .to_owned();
    let mut patches = Vec::new();
    for d in v["deltas"].as_array().into_iter().flatten() {
        let name = d["patch"]["file"]
            .as_str()
            .ok_or_else(|| "a delta without patch.file".to_owned())
            .and_then(plain_file_name)?;
        patches.push(name.to_owned());
    }
    Ok((image, patches))
}

/// Without `release.json`: `delta-from-*.patch` are patches, the one other file is the image.
fn by_listing(dir: &Path) -> Result<(String, Vec<String>), ClientError> {
    let listing = std::fs::read_dir(dir).map_err(|e| ClientError::Bundle {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let (mut images, mut patches) = (Vec::new(), Vec::new());
    for entry in listing.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name == ENVELOPE_FILE || name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        if name.starts_with("delta-from-") && name.ends_with(".patch") {
            patches.push(name);
        } else {
            images.push(name);
        }
    }
    patches.sort();
    match images.as_slice() {
        [image] => Ok((image.clone(), patches)),
        [] => Err(ClientError::Bundle {
            path: dir.to_path_buf(),
            message: "no image file".into(),
        }),
        many => Err(ClientError::Bundle {
            path: dir.to_path_buf(),
            message: format!(
                "which file is the image: {}? (without {SUMMARY_FILE} the directory must hold one)",
                many.join(", ")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &[u8])]) {
        for (name, bytes) in files {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }

    #[test]
    fn reads_a_signer_release_directory() {
        let d = tempfile::tempdir().unwrap();
        let summary = br#"{"image": {"file": "fw.bin"}, "deltas": [{"patch": {"file": "delta-from-0a.patch"}}]}"#;
        write(
            d.path(),
            &[
                ("release.suit", b"env"),
                ("fw.bin", b"img"),
                ("delta-from-0a.patch", b"p"),
                ("release.json", summary),
            ],
        );
        let u = ReleaseUpload::from_dir(d.path()).unwrap();
        let expected = ReleaseUpload::new(b"env".to_vec(), "fw.bin", b"img".to_vec())
            .with_patch("delta-from-0a.patch", b"p".to_vec())
            .with_summary(summary.to_vec());
        assert_eq!(u, expected);

        // Without release.json: by file names.
        std::fs::remove_file(d.path().join("release.json")).unwrap();
        let u = ReleaseUpload::from_dir(d.path()).unwrap();
        assert_eq!(u.image.unwrap().file_name, "fw.bin");
        assert_eq!(u.patches.len(), 1);
        assert!(u.summary.is_none());
        write(d.path(), &[("other.bin", b"x")]);
        let e = ReleaseUpload::from_dir(d.path()).unwrap_err();
        assert!(e.to_string().contains("which file is the image"), "{e}");
    }

    #[test]
    fn refuses_what_is_not_a_bundle() {
        let d = tempfile::tempdir().unwrap();
        let e = ReleaseUpload::from_dir(d.path()).unwrap_err();
        assert!(e.to_string().contains("release.suit"), "{e}");
        // release.json may only name files inside the directory.
        write(
            d.path(),
            &[
                ("release.suit", b"env"),
                ("release.json", br#"{"image": {"file": "../../etc/passwd"}}"#),
            ],
        );
        let e = ReleaseUpload::from_dir(d.path()).unwrap_err();
        assert!(e.to_string().contains("not a plain file name"), "{e}");
    }
}
