//! Command-line interface: imgtool's everyday commands with imgtool's flag spellings, so build
//! scripts can swap the binary. One module per subcommand.

mod delta;
mod dumpinfo;
mod getpub;
mod hsm;
mod keygen;
mod release;
mod sign;
mod verify;

pub use sign::settings as sign_settings;

use clap::{Parser, Subcommand};

use crate::error::{Error, ErrorKind};

const AFTER_HELP: &str = "\
Examples:
  signer keygen -t ed25519 -k dev-key.pem
  signer sign -k dev-key.pem -v 1.2.3+4 -s auto -H 0x200 --pad-header -S 0x20000 \\
      app.bin app.signed.bin
  signer verify -k dev-key.pem app.signed.bin
  signer dumpinfo --json app.signed.bin
  signer keygen -t ed25519 \\
      -k 'pkcs11:token=fw-release;object=image-key-2026?module-path=/usr/lib/softhsm/libsofthsm2.so'
  signer hsm list --pkcs11-module /usr/lib/softhsm/libsofthsm2.so

Keys: -k takes a key file (development) or an RFC 7512 pkcs11: URI. The PKCS#11 module comes from
module-path in the URI, --pkcs11-module, or PKCS11_MODULE; the PIN from pin-source=file:... in the
URI, PKCS11_PIN, or a prompt on the terminal, never from an argument.

Exit status: 0 success, 1 image or signature invalid, 2 usage or operational error.";

#[derive(Debug, Parser)]
#[command(name = "signer", version, about = "Sign and verify MCUboot firmware images (imgtool-compatible)", after_help = AFTER_HELP)]
pub struct Cli {
    /// PKCS#11 module (shared library) for pkcs11: keys without module-path; default $PKCS11_MODULE.
    #[arg(long = "pkcs11-module", value_name = "PATH", global = true)]
    pub pkcs11_module: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate a signing key (PKCS#8 PEM, as imgtool writes it).
    Keygen(keygen::Args),
    /// Print the public key (DER SubjectPublicKeyInfo) as C, Rust, PEM or raw bytes.
    Getpub(getpub::Args),
    /// Print SHA-256 of the public key's DER SPKI (what MCUboot's KEYHASH TLV holds).
    Getpubhash(getpub::HashArgs),
    /// Build and sign an MCUboot image from a raw binary, Intel HEX or ELF file.
    Sign(Box<sign::Args>),
    /// Verify a signed image with the device's own verifier (exit 0 valid, 1 invalid).
    Verify(verify::Args),
    /// Show an image's header, TLVs and trailer.
    Dumpinfo(dumpinfo::Args),
    /// Make or apply a delta patch between two signed images.
    Delta(delta::Args),
    /// Cut a signed release (SUIT envelope + image), or verify / inspect one.
    Release(Box<release::Args>),
    /// Inspect PKCS#11 tokens (HSMs).
    Hsm(hsm::Args),
}

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), Error> {
    if let Some(module) = cli.pkcs11_module {
        crate::keys::pkcs11::set_module_override(module);
    }
    match cli.command {
        Command::Keygen(args) => keygen::run(&args),
        Command::Getpub(args) => getpub::run(&args),
        Command::Getpubhash(args) => getpub::run_hash(&args),
        Command::Sign(args) => sign::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Dumpinfo(args) => dumpinfo::run(&args),
        Command::Delta(args) => delta::run(&args),
        Command::Release(args) => release::run(&args),
        Command::Hsm(args) => hsm::run(&args),
    }
}

/// The exit status for an error (README, "Exit codes"): 1 when an image, patch or release was
/// checked and is not valid, 2 for usage and operational errors. Success is 0.
pub fn exit_code(error: &Error) -> i32 {
    match error.kind() {
        ErrorKind::Invalid => 1,
        _ => 2,
    }
}

/// What the binary prints on stderr for an error: `error: <message>`, then `hint: <hint>` when
/// the error has one.
pub fn render_error(error: &Error) -> String {
    match error.hint() {
        Some(hint) => format!("error: {}\nhint: {hint}", error.message()),
        None => format!("error: {}", error.message()),
    }
}

/// imgtool's `int(x, 0)`: decimal, `0x` hex, `0o` octal or `0b` binary.
pub(crate) fn parse_int(text: &str) -> Result<u64, String> {
    let t = text.trim().replace('_', "");
    let (digits, radix) = match t.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => (&t[2..], 16),
        Some("0o") => (&t[2..], 8),
        Some("0b") => (&t[2..], 2),
        _ => (t.as_str(), 10),
    };
    u64::from_str_radix(digits, radix).map_err(|_| format!("{text:?} is not a number (use decimal or 0x...)"))
}

pub(crate) fn parse_u32(text: &str) -> Result<u32, String> {
    let value = parse_int(text)?;
    u32::try_from(value).map_err(|_| format!("{text} does not fit in 32 bits"))
}

pub(crate) fn parse_u16(text: &str) -> Result<u16, String> {
    let value = parse_int(text)?;
    u16::try_from(value).map_err(|_| format!("{text} does not fit in 16 bits (max 0xffff)"))
}

/// Prints a JSON value on stdout.
pub(crate) fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into())
    );
}
