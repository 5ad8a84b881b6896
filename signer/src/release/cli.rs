//! Entry points for the `signer release`, `release verify` and `release inspect` subcommands.
//! They take plain arguments; the binary parses argv, loads keys (never from argv) and maps
//! results to exit codes (0 ok, 1 verification failed, 2 usage/operational error).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::report::{self, VerifyReport};
use super::sign::{spki_from_public_key, CoseSigner};
use super::state::SequenceState;
use super::{build_release, class_uuid, vendor_uuid, DeltaRef, ReleaseInput};

/// Arguments of `signer release`.
#[derive(Debug, Clone)]
pub struct ReleaseArgs {
    pub image: PathBuf,
    pub out_dir: PathBuf,
    pub sequence: u64,
    pub vendor_domain: String,
    pub class_name: String,
    pub version: String,
    pub notes: String,
    /// Defaults to the image's file name (relative to the envelope).
    pub image_uri: Option<String>,
    /// `(format id, precursor image, patch file)` per delta.
    pub deltas: Vec<(u64, PathBuf, PathBuf)>,
    /// Local record of the last sequence signed per class.
    pub state_file: PathBuf,
    /// Sign even if the sequence is not above the last one recorded.
    pub force: bool,
    /// Print the plan and stop.
    pub dry_run: bool,
}

fn file_name(path: &Path) -> Result<String> {
    Ok(path
        .file_name()
        .context("path has no file name")?
        .to_string_lossy()
        .into_owned())
}

/// `signer release`: prints the plan, checks the sequence state, signs, writes the bundle,
/// records the sequence. Writes human output to `out`.
pub fn release(args: &ReleaseArgs, signers: &[&dyn CoseSigner], out: &mut dyn Write) -> Result<()> {
    let image = std::fs::read(&args.image).with_context(|| format!("reading {}", args.image.display()))?;
    let vendor = vendor_uuid(&args.vendor_domain);
    let class = class_uuid(&vendor, &args.class_name);
    let mut state = SequenceState::load(&args.state_file)?;

    writeln!(out, "plan:")?;
    writeln!(out, "  image      {} ({} bytes)", args.image.display(), image.len())?;
    writeln!(out, "  vendor     {} = {vendor}", args.vendor_domain)?;
    writeln!(out, "  class      {} = {class}", args.class_name)?;
    writeln!(
        out,
        "  sequence   {} (last signed for this class: {})",
        args.sequence,
        state.last(&class).map_or("none".to_owned(), |s| s.to_string())
    )?;
    writeln!(out, "  version    {}", args.version)?;
    writeln!(out, "  signatures {}", signers.len())?;
    for (format, pre, patch) in &args.deltas {
        writeln!(
            out,
            "  delta      format {format}: {} -> {}",
            pre.display(),
            patch.display()
        )?;
    }
    writeln!(out, "  output     {}", args.out_dir.display())?;
    state.check(&class, args.sequence, args.force)?;
    if args.dry_run {
        writeln!(out, "dry run: nothing signed")?;
        return Ok(());
    }

    let deltas = args
        .deltas
        .iter()
        .map(|(format, pre, patch)| {
            Ok(DeltaRef {
                format: *format,
                precursor_image: std::fs::read(pre).with_context(|| format!("reading {}", pre.display()))?,
                patch: std::fs::read(patch).with_context(|| format!("reading {}", patch.display()))?,
                file_name: file_name(patch)?,
            })
        })
        .collect::<Result<_>>()?;
    let input = ReleaseInput {
        image,
        image_name: file_name(&args.image)?,
        image_uri: args.image_uri.clone(),
        sequence: args.sequence,
        vendor_domain: args.vendor_domain.clone(),
        class_name: args.class_name.clone(),
        version: args.version.clone(),
        notes: args.notes.clone(),
        deltas,
    };
    let bundle = build_release(input, signers)?;
    bundle.write_bundle(&args.out_dir)?;
    state.record(&class, args.sequence);
    state.save(&args.state_file)?;
    writeln!(
        out,
        "signed release {} (sequence {}): {} ({} bytes)",
        args.version,
        args.sequence,
        args.out_dir.join(super::bundle::ENVELOPE_FILE).display(),
        bundle.envelope.len()
    )?;
    Ok(())
}

/// Arguments of `signer release verify`.
#[derive(Debug, Clone, Default)]
pub struct VerifyArgs {
    pub envelope: PathBuf,
    /// Trusted manifest public keys (PEM "PUBLIC KEY" or DER SPKI files).
    pub keys: Vec<PathBuf>,
    pub threshold: usize,
    /// Expected identity; both or neither.
    pub vendor_domain: Option<String>,
    pub class_name: Option<String>,
    /// An image to bind to the release, with its MCUboot verification keys.
    pub image: Option<PathBuf>,
    pub image_keys: Vec<PathBuf>,
    pub json: bool,
}

fn read_keys(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            spki_from_public_key(&bytes).with_context(|| format!("loading {}", p.display()))
        })
        .collect()
}

/// `signer release verify`: `Ok(Ok(report))` verified; `Ok(Err(reason))` verification failed
/// (exit 1); `Err` operational error (exit 2).
pub fn release_verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<std::result::Result<VerifyReport, String>> {
    let envelope = std::fs::read(&args.envelope).with_context(|| format!("reading {}", args.envelope.display()))?;
    let keys = read_keys(&args.keys)?;
    let image_keys = read_keys(&args.image_keys)?;
    let image = args
        .image
        .as_ref()
        .map(std::fs::read)
        .transpose()
        .context("reading image")?;
    let identity = match (&args.vendor_domain, &args.class_name) {
        (Some(v), Some(c)) => {
            let vendor = vendor_uuid(v);
            Some((vendor, class_uuid(&vendor, c)))
        }
        (None, None) => None,
        _ => anyhow::bail!("give both --vendor and --class, or neither"),
    };
    let result = report::verify(
        &envelope,
        &keys,
        args.threshold.max(1),
        identity,
        image.as_deref().map(|i| (i, image_keys.as_slice())),
    );
    match result {
        Ok(report) => {
            if args.json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                writeln!(out, "OK: release sequence {} verified", report.manifest.sequence)?;
                if !report.identity_checked {
                    writeln!(out, "note: vendor/class were not checked (pass --vendor and --class)")?;
                }
                if report.image_bound == Some(true) {
                    writeln!(out, "image matches the manifest and its MCUboot signature verifies")?;
                }
            }
            Ok(Ok(report))
        }
        Err(e) => {
            let reason = format!("{e:#}");
            if args.json {
                writeln!(out, "{}", serde_json::json!({ "verified": false, "error": reason }))?;
            } else {
                writeln!(out, "error: verification failed: {reason}")?;
            }
            Ok(Err(reason))
        }
    }
}

/// `signer release inspect [--json]`: shows the envelope's contents (unauthenticated).
pub fn release_inspect(envelope: &Path, json: bool, out: &mut dyn Write) -> Result<()> {
    let bytes = std::fs::read(envelope).with_context(|| format!("reading {}", envelope.display()))?;
    let report = report::inspect(&bytes)?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    let m = &report.manifest;
    writeln!(
        out,
        "SUIT envelope, {} bytes (signatures NOT checked; use `release verify`)",
        report.envelope_size
    )?;
    writeln!(out, "  sequence     {}", m.sequence)?;
    writeln!(out, "  vendor-id    {}", m.vendor_id)?;
    writeln!(out, "  class-id     {}", m.class_id)?;
    writeln!(out, "  image        {} bytes, sha256 {}", m.image_size, m.image_sha256)?;
    writeln!(out, "  install-uri  {}", m.install_uri.as_deref().unwrap_or("-"))?;
    writeln!(out, "  version      {}", m.version.as_deref().unwrap_or("-"))?;
    writeln!(out, "  notes        {}", m.notes.as_deref().unwrap_or("-"))?;
    writeln!(
        out,
        "  digest       {}",
        if report.manifest_digest_matches {
            "matches"
        } else {
            "MISMATCH"
        }
    )?;
    for s in &report.signatures {
        writeln!(out, "  signature    {} ({})", s.alg_name.unwrap_or("?"), s.alg)?;
    }
    for d in &m.deltas {
        writeln!(
            out,
            "  delta        format {} from {} ({} B): {} ({} B)",
            d.format, d.precursor_sha256, d.precursor_size, d.uri, d.patch_size
        )?;
    }
    Ok(())
}
