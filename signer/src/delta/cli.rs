//! `signer delta create|apply`: file handling around [`super::create`] / [`super::apply`].
//! Outputs are written atomically (temporary file in the target directory, then rename) and
//! an existing output is never replaced unless `force` is set. Each run returns a summary of
//! what it wrote, for the one-line report (or `--json`) the command prints. A patch that does not
//! fit its base is [`ErrorKind::Invalid`](crate::ErrorKind::Invalid) (exit 1); the rest exit 2.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// What `delta create` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreateSummary {
    pub patch: PathBuf,
    pub patch_size: u64,
    pub patch_sha256: String,
    pub from: PathBuf,
    pub from_size: u64,
    pub to: PathBuf,
    pub to_size: u64,
}

impl CreateSummary {
    /// The patch's size as a percentage of the new image (0 for an empty image).
    pub fn percent_of_new(&self) -> f64 {
        if self.to_size == 0 {
            return 0.0;
        }
        // Sizes are < 4 GiB (the patch format's limit): exact in f64.
        self.patch_size as f64 * 100.0 / self.to_size as f64
    }

    /// `wrote PATCH (N bytes, X% of the new image) from OLD to NEW`
    pub fn human(&self) -> String {
        format!(
            "wrote {} ({} bytes, {:.1}% of the new image) from {} to {}",
            self.patch.display(),
            self.patch_size,
            self.percent_of_new(),
            self.from.display(),
            self.to.display()
        )
    }
}

/// What `delta apply` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApplySummary {
    pub output: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub from: PathBuf,
    pub patch: PathBuf,
}

impl ApplySummary {
    /// `wrote OUT (N bytes, sha256 ...) from OLD + PATCH`
    pub fn human(&self) -> String {
        format!(
            "wrote {} ({} bytes, sha256 {}) from {} + {}; base and result digests verified",
            self.output.display(),
            self.size,
            self.sha256,
            self.from.display(),
            self.patch.display()
        )
    }
}

fn len(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// `signer delta create --from OLD --to NEW -o PATCH [--force]`
pub fn run_create(from: &Path, to: &Path, out: &Path, force: bool) -> Result<CreateSummary, Error> {
    refuse_existing(out, force)?;
    let old = read(from)?;
    let new = read(to)?;
    let bar = progress_bar();
    let report = |done: u64, total: u64| {
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    };
    let patch = super::create(&old, &new, &report)
        .map_err(|e| Error::from(e).context(format_args!("diffing {}", to.display())))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Check the patch with the device decoder before anyone ships it.
    let check = super::apply(&old, &patch)
        .map_err(|e| Error::internal(format!("the new patch does not apply (internal error): {e}")))?;
    if check != new {
        return Err(Error::internal(format!(
            "the new patch does not reproduce {} (internal error)",
            to.display()
        )));
    }
    write_atomic(out, &patch, force)?;
    Ok(CreateSummary {
        patch: out.to_path_buf(),
        patch_size: len(&patch),
        patch_sha256: hex::encode(Sha256::digest(&patch)),
        from: from.to_path_buf(),
        from_size: len(&old),
        to: to.to_path_buf(),
        to_size: len(&new),
    })
}

/// `signer delta apply --from OLD PATCH -o NEW [--force]`
pub fn run_apply(from: &Path, patch: &Path, out: &Path, force: bool) -> Result<ApplySummary, Error> {
    refuse_existing(out, force)?;
    let old = read(from)?;
    let patch_bytes = read(patch)?;
    let new = super::apply(&old, &patch_bytes)
        .map_err(|e| Error::from(e).context(format_args!("applying {}", patch.display())))?;
    write_atomic(out, &new, force)?;
    Ok(ApplySummary {
        output: out.to_path_buf(),
        size: len(&new),
        sha256: hex::encode(Sha256::digest(&new)),
        from: from.to_path_buf(),
        patch: patch.to_path_buf(),
    })
}

/// Images, patches and envelopes: at most [`crate::input::MAX_FLAT_IMAGE`] bytes are read.
fn read(path: &Path) -> Result<Vec<u8>, Error> {
    crate::input::read_bounded(path, crate::input::MAX_FLAT_IMAGE, "file")
}

fn refuse_existing(out: &Path, force: bool) -> Result<(), Error> {
    if !force && out.exists() {
        return Err(Error::output_exists(out));
    }
    Ok(())
}

/// The signer's shared atomic writer (temporary file, fsync, rename; no clobber unless forced).
fn write_atomic(out: &Path, bytes: &[u8], force: bool) -> Result<(), Error> {
    let overwrite = if force {
        crate::output::Overwrite::Replace
    } else {
        crate::output::Overwrite::Refuse
    };
    crate::output::write_atomic(out, bytes, overwrite)
}

fn progress_bar() -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("diffing {bar:40} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    Some(bar)
}
