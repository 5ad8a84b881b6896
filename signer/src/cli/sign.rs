//! `signer sign`: imgtool `sign` with the same flags and byte-identical output. The key signs
//! only through [`AuditedKey::sign_output`], so the audit record of the signature is on disk
//! before the image is written.

use std::path::PathBuf;

use manifest::image::{ImageVersion, TrailerLayout, DEFAULT_MAX_SECTORS};

use crate::audit::{self, AuditEntry, AuditedKey};
use crate::error::Error;
use crate::image::{PreparedImage, PublicKeyFormat, ShaChoice, SignSettings};
use crate::input::{self, Firmware, InputFormat};
use crate::keys::{key_hash, SigningKey as _};
use crate::output::{write_atomic, Overwrite};

use super::{parse_u16, parse_u32};

const EXAMPLES: &str = "\
Examples:
  signer sign -k dev-key.pem -v 1.2.3+4 -s auto -H 0x200 --pad-header -S 0x20000 \\
      app.bin app.signed.bin
  signer sign -k dev-key.pem -v 2.0.0 -H 0x200 --pad-header -S 0x20000 --pad --confirm \\
      app.elf app.signed.bin
  signer sign -k 'pkcs11:token=fw-release;object=image-key-2026' -v 1.0.0 -H 0x200 --pad-header \\
      -S 0x20000 app.hex out.hex";

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES, args_override_self = true)]
pub struct Args {
    /// Signing key: a key file (development) or a pkcs11: URI.
    #[arg(short = 'k', long = "key", value_name = "KEY")]
    pub key: String,
    /// How the image names its key.
    #[arg(long = "public-key-format", value_enum, default_value = "hash")]
    pub public_key_format: PublicKeyFormat,
    /// Flash write alignment (1, 2, 4, 8, 16, 32).
    #[arg(long, default_value = "1", value_parser = clap::builder::PossibleValuesParser::new(["1", "2", "4", "8", "16", "32"]))]
    pub align: String,
    /// Maximum flash alignment (default max(8, --align)).
    #[arg(long = "max-align", value_parser = clap::builder::PossibleValuesParser::new(["8", "16", "32"]))]
    pub max_align: Option<String>,
    /// Image version maj.min.rev+build.
    #[arg(short = 'v', long = "version", value_name = "VERSION")]
    pub version: String,
    /// Security counter: `auto` (from the version) or a number.
    #[arg(short = 's', long = "security-counter", value_name = "auto|N")]
    pub security_counter: Option<String>,
    /// Header size (e.g. 0x200).
    #[arg(short = 'H', long = "header-size", value_parser = parse_u16)]
    pub header_size: u16,
    /// Prepend the header (filled with the erased value) instead of overwriting zeros.
    #[arg(long = "pad-header")]
    pub pad_header: bool,
    /// Slot size; the image plus its trailer must fit.
    #[arg(short = 'S', long = "slot-size", value_parser = parse_u32)]
    pub slot_size: u32,
    /// Pad the image to the slot size and write the trailer magic.
    #[arg(long)]
    pub pad: bool,
    /// Mark the image confirmed (implies --pad).
    #[arg(long)]
    pub confirm: bool,
    /// Sectors the swap status area covers.
    #[arg(short = 'M', long = "max-sectors", value_parser = parse_u32)]
    pub max_sectors: Option<u32>,
    /// Trailer layout for overwrite-only bootloaders.
    #[arg(long = "overwrite-only")]
    pub overwrite_only: bool,
    /// Load address for RAM-load images (sets RAM_LOAD).
    #[arg(short = 'L', long = "load-addr", value_parser = parse_u32)]
    pub load_addr: Option<u32>,
    /// Fixed ROM address (sets ROM_FIXED).
    #[arg(short = 'F', long = "rom-fixed", value_parser = parse_u32)]
    pub rom_fixed: Option<u32>,
    /// Erased flash value used for padding (0xff or 0).
    #[arg(short = 'R', long = "erased-val", value_parser = clap::builder::PossibleValuesParser::new(["0", "0xff"]))]
    pub erased_val: Option<String>,
    /// Base address for a .hex output when the input has none.
    #[arg(short = 'x', long = "hex-addr", value_parser = parse_u32)]
    pub hex_addr: Option<u32>,
    /// Image hash: auto (SHA-256), 256 or 512.
    #[arg(long, value_enum, default_value = "auto")]
    pub sha: ShaChoice,
    /// Ed25519 over the image itself instead of its digest.
    #[arg(long, conflicts_with = "sha")]
    pub pure: bool,
    /// Mark the image non-bootable.
    #[arg(long = "non-bootable")]
    pub non_bootable: bool,
    /// Replace an existing output file.
    #[arg(long)]
    pub force: bool,
    /// Append the audit record here (default $SIGNER_AUDIT_LOG, else $XDG_STATE_HOME/signer/audit.jsonl
    /// or ~/.local/state/signer/audit.jsonl). Signing fails if the record cannot be written.
    #[arg(long = "audit-log", value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
    /// Input: raw binary, Intel HEX (.hex) or ELF.
    pub infile: PathBuf,
    /// Output: binary, or Intel HEX if it ends in .hex.
    pub outfile: PathBuf,
}

fn parse_version(text: &str) -> Result<ImageVersion, Error> {
    text.parse().map_err(|e| {
        Error::usage(format!("invalid version {text:?}: {e}"))
            .with_hint("use maj.min.rev+build, for example -v 1.2.3+4")
    })
}

fn security_counter(text: Option<&str>, version: &ImageVersion) -> Result<Option<u32>, Error> {
    match text {
        None => Ok(None),
        Some("auto") => Ok(Some(version.auto_security_counter())),
        Some(n) => parse_u32(n).map(Some).map_err(|e| {
            Error::usage(format!("invalid security counter: {e}"))
                .with_hint("use `auto` or a number from 0 to 4294967295")
        }),
    }
}

pub fn settings(args: &Args) -> Result<SignSettings, Error> {
    let version = parse_version(&args.version)?;
    let align: u32 = args.align.parse().unwrap_or(1);
    let max_align = args.max_align.as_deref().map(|s| s.parse().unwrap_or(8));
    let mut trailer = TrailerLayout::for_align(align, max_align);
    trailer.max_sectors = args.max_sectors.unwrap_or(DEFAULT_MAX_SECTORS);
    trailer.overwrite_only = args.overwrite_only;
    let erased_val = if args.erased_val.as_deref() == Some("0") {
        0
    } else {
        0xff
    };
    Ok(SignSettings::new(version, args.slot_size)
        .header_size(args.header_size)
        .pad_header(args.pad_header)
        .security_counter(security_counter(args.security_counter.as_deref(), &version)?)
        .load_addr(args.load_addr.unwrap_or(0))
        .rom_fixed(args.rom_fixed)
        .non_bootable(args.non_bootable)
        .erased_val(erased_val)
        .trailer(trailer)
        .pad(args.pad)
        .confirm(args.confirm)
        .public_key_format(args.public_key_format)
        .sha(args.sha)
        .pure(args.pure))
}

/// Where a `.hex` output starts, or `None` for a binary output. Decided before the key is opened.
fn hex_base(args: &Args, firmware: &Firmware) -> Result<Option<u32>, Error> {
    let hex_out = args.outfile.extension().is_some_and(|e| e.eq_ignore_ascii_case("hex"));
    if !hex_out {
        return Ok(None);
    }
    // imgtool: with --pad-header the header sits hdr_size bytes before the input's base.
    match (args.hex_addr, firmware.base_addr) {
        (Some(addr), _) => Ok(Some(addr)),
        (None, Some(base)) if args.pad_header => Ok(Some(base.saturating_sub(u32::from(args.header_size)))),
        (None, Some(base)) => Ok(Some(base)),
        (None, None) => Err(Error::usage("a .hex output needs a base address")
            .with_hint("pass -x/--hex-addr, or use a .hex or ELF input")),
    }
}

pub fn run(args: &Args) -> Result<(), Error> {
    let settings = settings(args)?;
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    // Refuse before signing, so no signature (and no audit record) is made for nothing.
    if overwrite == Overwrite::Refuse && args.outfile.exists() {
        return Err(Error::output_exists(&args.outfile));
    }
    let audit_path = audit::log_path(args.audit_log.as_deref())?;
    // The slot bounds what is read: a stray multi-gigabyte file is refused, not loaded.
    let firmware = input::load(&args.infile, u64::from(args.slot_size))?;
    let input_bytes = input::read_bounded(&args.infile, input::MAX_INPUT_FILE, "input")?;
    let hex_base = hex_base(args, &firmware)?;
    let mut template = AuditEntry::for_command("sign");
    template.input = Some(args.infile.display().to_string());
    template.input_sha256 = Some(audit::sha256_hex(&input_bytes));
    template.output = Some(args.outfile.display().to_string());
    template.version = Some(settings.image.version.to_string());
    template.security_counter = settings.image.security_counter;
    let key = AuditedKey::open(&args.key, audit_path, template)?;
    if key.is_file_key() {
        eprintln!(
            "warning: signing with a key file ({}); production keys belong in an HSM (-k pkcs11:...)",
            args.key
        );
    }
    let spki = key.public_spki()?;
    let prepared = PreparedImage::new(&firmware.bytes, &settings, key.algorithm(), spki.clone())?;
    let message = prepared.message().to_vec();
    let digest = prepared.digest().to_vec();
    // The record (fsynced, naming the output's SHA-256) is on disk before the output exists; if
    // it cannot be written, nothing is.
    let (out_bytes, signed) = key.sign_output(&message, Some(&digest), |signature| {
        let signed = prepared.finish(signature)?;
        let out_bytes = match hex_base {
            Some(base) => crate::input::to_hex(&signed.bytes, base)?.into_bytes(),
            None => signed.bytes.clone(),
        };
        Ok((out_bytes, signed))
    })?;
    write_atomic(&args.outfile, &out_bytes, overwrite)?;
    let summary = serde_json::json!({
        "output": args.outfile,
        "input_format": firmware.format,
        "size": signed.bytes.len(),
        "version": settings.image.version.to_string(),
        "security_counter": settings.image.security_counter,
        "image_hash": hex::encode(&signed.digest),
        "key_hash": hex::encode(signed.key_hash),
        "key": key.describe(),
        "algorithm": signed.algorithm,
        "audit_log": key.log(),
    });
    // The human line goes to stderr; with --json, stdout holds only the JSON document.
    let format = match firmware.format {
        InputFormat::Raw => "raw",
        InputFormat::Hex => "hex",
        InputFormat::Elf => "elf",
    };
    let key_hash_hex = hex::encode(key_hash(&spki));
    eprintln!(
        "signed {} ({format}) -> {} ({} bytes, version {}, key hash {})",
        args.infile.display(),
        args.outfile.display(),
        signed.bytes.len(),
        settings.image.version,
        key_hash_hex.get(..16).unwrap_or(&key_hash_hex),
    );
    if args.json {
        super::print_json(&summary);
    }
    Ok(())
}
