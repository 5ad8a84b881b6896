//! `signer delta create|apply`: file handling around [`super::create`] / [`super::apply`].
//! Outputs are written atomically (temporary file in the target directory, then rename) and
//! an existing output is never replaced unless `force` is set.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context};

/// `signer delta create --from OLD --to NEW -o PATCH [--force]`
pub fn run_create(from: &Path, to: &Path, out: &Path, force: bool) -> anyhow::Result<()> {
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
    let patch = super::create(&old, &new, &report).with_context(|| format!("diffing {}", to.display()))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Check the patch with the device decoder before anyone ships it.
    let check = super::apply(&old, &patch).context("the new patch does not apply (internal error)")?;
    if check != new {
        bail!("the new patch does not reproduce {} (internal error)", to.display());
    }
    write_atomic(out, &patch, force)
}

/// `signer delta apply --from OLD PATCH -o NEW [--force]`
pub fn run_apply(from: &Path, patch: &Path, out: &Path, force: bool) -> anyhow::Result<()> {
    refuse_existing(out, force)?;
    let old = read(from)?;
    let patch_bytes = read(patch)?;
    let new = super::apply(&old, &patch_bytes).with_context(|| format!("applying {}", patch.display()))?;
    write_atomic(out, &new, force)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn refuse_existing(out: &Path, force: bool) -> anyhow::Result<()> {
    if !force && out.exists() {
        bail!("{} exists (use --force to replace it)", out.display());
    }
    Ok(())
}

/// The signer's shared atomic writer (temporary file, fsync, rename; no clobber unless forced).
fn write_atomic(out: &Path, bytes: &[u8], force: bool) -> anyhow::Result<()> {
    let overwrite = if force {
        crate::output::Overwrite::Replace
    } else {
        crate::output::Overwrite::Refuse
    };
    crate::output::write_atomic(out, bytes, overwrite).map_err(|f| anyhow::anyhow!("{}", f.message))
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
