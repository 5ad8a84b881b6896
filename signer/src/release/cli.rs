//! Entry points for the `signer release`, `release verify` and `release inspect` subcommands.
//! They take plain arguments; the binary parses argv, loads keys (never from argv) and maps the
//! [`Error`]s to exit codes (0 ok, 1 verification failed, 2 usage/operational error).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::report::{self, VerifyReport};
use super::sign::{spki_from_public_key, CoseSigner};
use super::state::SequenceState;
use super::{build_release, class_uuids, DeltaRef, ReleaseInput};
use crate::error::Error;

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
    /// `(format id, precursor image, patch file)` per ready-made delta.
    pub deltas: Vec<(u64, PathBuf, PathBuf)>,
    /// Earlier signed images to make delta patches from (format `FWSIGN_V1`).
    pub delta_from: Vec<PathBuf>,
    /// Local record of the last sequence signed per class.
    pub state_file: PathBuf,
    /// Sign even if the sequence is not above the last one recorded.
    pub force: bool,
    /// Print the plan and stop.
    pub dry_run: bool,
}

fn file_name(path: &Path) -> Result<String, Error> {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| Error::usage(format!("{} has no file name", path.display())))
}

/// Images, patches and envelopes: at most [`crate::input::MAX_FLAT_IMAGE`] bytes are read.
fn read(path: &Path) -> Result<Vec<u8>, Error> {
    crate::input::read_bounded(path, crate::input::MAX_FLAT_IMAGE, "file")
}

/// Writes `lines` to the command's human or JSON output.
fn emit(out: &mut dyn Write, lines: &[String]) -> Result<(), Error> {
    lines
        .iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .map_err(|e| Error::io("cannot write the report", &e))
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Error> {
    serde_json::to_string_pretty(value).map_err(|e| Error::internal(format!("cannot encode JSON: {e}")))
}

/// `signer release`: prints the plan, checks the sequence state, signs, writes the bundle,
/// records the sequence. Writes human output to `out`.
pub fn release(args: &ReleaseArgs, signers: &[&dyn CoseSigner], out: &mut dyn Write) -> Result<(), Error> {
    let image = read(&args.image)?;
    let (vendor, class) = class_uuids(&args.vendor_domain, &args.class_name);
    let mut state = SequenceState::load(&args.state_file)?;

    let mut plan = vec![
        "plan:".to_owned(),
        format!("  image      {} ({} bytes)", args.image.display(), image.len()),
        format!("  vendor     {} = {vendor}", args.vendor_domain),
        format!("  class      {} = {class}", args.class_name),
        format!(
            "  sequence   {} (last signed for this class: {})",
            args.sequence,
            state.last(&class).map_or("none".to_owned(), |s| s.to_string())
        ),
        format!("  version    {}", args.version),
        format!("  signatures {}", signers.len()),
    ];
    for pre in &args.delta_from {
        plan.push(format!("  delta      from {} (patch made now)", pre.display()));
    }
    for (format, pre, patch) in &args.deltas {
        plan.push(format!(
            "  delta      format {format}: {} -> {}",
            pre.display(),
            patch.display()
        ));
    }
    plan.push(format!("  output     {}", args.out_dir.display()));
    emit(out, &plan)?;
    state.check(&class, args.sequence, args.force)?;
    if args.dry_run {
        return emit(out, &["dry run: nothing signed".to_owned()]);
    }

    let mut deltas = args
        .deltas
        .iter()
        .map(|(format, pre, patch)| {
            Ok(DeltaRef {
                format: *format,
                precursor_image: read(pre)?,
                patch: read(patch)?,
                file_name: file_name(patch)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    for pre in &args.delta_from {
        deltas.push(make_delta(pre, &image)?);
    }
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
    emit(
        out,
        &[format!(
            "signed release {} (sequence {}): {} ({} bytes)",
            args.version,
            args.sequence,
            args.out_dir.join(super::bundle::ENVELOPE_FILE).display(),
            bundle.envelope.len()
        )],
    )
}

/// Diffs the signed part of `precursor` against the signed part of `image` (the manifest binds
/// complete signed images), checking the patch with the device decoder before it is used.
fn make_delta(precursor: &Path, image: &[u8]) -> Result<DeltaRef, Error> {
    let old_file = read(precursor)?;
    let old = super::signed_image_part(&old_file)
        .map_err(|e| e.context(format_args!("{} as a delta base", precursor.display())))?;
    let new = super::signed_image_part(image)?;
    let patch = crate::delta::create(old, new, &|_, _| {})
        .map_err(|e| Error::from(e).context(format_args!("diffing from {}", precursor.display())))?;
    let check = crate::delta::apply(old, &patch)
        .map_err(|e| Error::internal(format!("the new patch does not apply (internal error): {e}")))?;
    if check != new {
        return Err(Error::internal(
            "the new patch does not reproduce the image (internal error)",
        ));
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(old);
    Ok(DeltaRef {
        format: manifest::suit::DeltaFormat::FWSIGN_V1.0,
        precursor_image: old.to_vec(),
        file_name: format!("delta-from-{}.patch", hex::encode(&digest[..6])),
        patch,
    })
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

fn read_keys(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, Error> {
    paths
        .iter()
        .map(|p| spki_from_public_key(&read(p)?).map_err(|e| e.context(format_args!("loading {}", p.display()))))
        .collect()
}

const VERIFY_HINT: &str = "check the trusted keys, vendor and class, and that the image is the one this release names";

/// `signer release verify`: `Ok(Ok(report))` verified; `Ok(Err(error))` verification failed
/// (an [`ErrorKind::Invalid`](crate::ErrorKind::Invalid) error, exit 1); `Err` the check could not be made (exit 2).
pub fn release_verify(args: &VerifyArgs, out: &mut dyn Write) -> Result<Result<VerifyReport, Error>, Error> {
    let envelope = read(&args.envelope)?;
    let keys = read_keys(&args.keys)?;
    let image_keys = read_keys(&args.image_keys)?;
    let image = args.image.as_deref().map(read).transpose()?;
    let identity = match (&args.vendor_domain, &args.class_name) {
        (Some(v), Some(c)) => Some(class_uuids(v, c)),
        (None, None) => None,
        _ => return Err(Error::usage("give both --vendor and --class, or neither")),
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
                emit(out, &[to_json(&report)?])?;
            } else {
                let mut lines = vec![format!("OK: release sequence {} verified", report.manifest.sequence)];
                if !report.identity_checked {
                    lines.push("note: vendor/class were not checked (pass --vendor and --class)".to_owned());
                }
                if report.image_bound == Some(true) {
                    lines.push("image matches the manifest and its MCUboot signature verifies".to_owned());
                }
                emit(out, &lines)?;
            }
            Ok(Ok(report))
        }
        // Whatever stops the device's checks (a bad signature, an untrusted key, an envelope that
        // does not decode) means the release is not valid for these keys and this identity.
        Err(error) => {
            let reason = error.message().to_owned();
            if args.json {
                emit(
                    out,
                    &[serde_json::json!({ "verified": false, "error": reason }).to_string()],
                )?;
            }
            Ok(Err(
                Error::invalid(format!("release is invalid: {reason}")).with_hint(VERIFY_HINT)
            ))
        }
    }
}

/// `signer release inspect [--json]`: shows the envelope's contents (unauthenticated).
pub fn release_inspect(envelope: &Path, json: bool, out: &mut dyn Write) -> Result<(), Error> {
    let bytes = read(envelope)?;
    let report = report::inspect(&bytes)?;
    if json {
        return emit(out, &[to_json(&report)?]);
    }
    let m = &report.manifest;
    let mut lines = vec![
        format!(
            "SUIT envelope, {} bytes (signatures NOT checked; use `release verify`)",
            report.envelope_size
        ),
        format!("  sequence     {}", m.sequence),
        format!("  vendor-id    {}", m.vendor_id),
        format!("  class-id     {}", m.class_id),
        format!("  image        {} bytes, sha256 {}", m.image_size, m.image_sha256),
        format!("  install-uri  {}", m.install_uri.as_deref().unwrap_or("-")),
        format!("  version      {}", m.version.as_deref().unwrap_or("-")),
        format!("  notes        {}", m.notes.as_deref().unwrap_or("-")),
        format!(
            "  digest       {}",
            if report.manifest_digest_matches {
                "matches"
            } else {
                "MISMATCH"
            }
        ),
    ];
    for s in &report.signatures {
        lines.push(format!("  signature    {} ({})", s.alg_name.unwrap_or("?"), s.alg));
    }
    for d in &m.deltas {
        lines.push(format!(
            "  delta        format {} from {} ({} B): {} ({} B)",
            d.format, d.precursor_sha256, d.precursor_size, d.uri, d.patch_size
        ));
    }
    emit(out, &lines)
}
