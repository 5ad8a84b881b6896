//! `signer release` (cut a signed release bundle), `release verify`, `release inspect`.

use std::path::PathBuf;

use crate::audit::{self, AuditEntry, AuditedKey};
use crate::error::Error;
use crate::keys::SigningKey as _;
use crate::release::cli as lib;
use crate::release::sign::{CoseSigner, KeyCoseSigner};

const EXAMPLES: &str = "\
Examples:
  signer release -k manifest-key.pem --image app.signed.bin --sequence 7 \\
      --vendor example.com --class sensor-v2 --version 1.4.0 --notes 'Fixes the sampling bug' \\
      -o release-1.4.0
  signer release verify -k manifest-pub.pem --vendor example.com --class sensor-v2 \\
      --image release-1.4.0/app.signed.bin --image-key image-pub.pem release-1.4.0/release.suit
  signer release inspect --json release-1.4.0/release.suit

The manifest key signs the SUIT envelope; it should differ from the image key. The sequence
number must be above the last one signed for the class (kept in --state-file) unless --force.";

#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    #[command(flatten)]
    pub cut: CutArgs,
}

const VERIFY_EXAMPLES: &str = "\
Examples:
  signer release verify -k manifest-pub.pem release-1.4.0/release.suit
  signer release verify -k manifest-pub.pem --vendor example.com --class sensor-v2 \\
      --image release-1.4.0/app.signed.bin --image-key image-pub.pem release-1.4.0/release.suit
  signer release verify --json -k a-pub.pem -k b-pub.pem --threshold 2 release-1.4.0/release.suit

Exit status: 0 verified, 1 verification failed, 2 usage or operational error.";

const INSPECT_EXAMPLES: &str = "\
Examples:
  signer release inspect release-1.4.0/release.suit
  signer release inspect --json release-1.4.0/release.suit | jq .manifest.sequence

Nothing shown is authenticated: use `signer release verify` to check the signatures.";

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Verify a release envelope (and optionally the image it names) as a device would.
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// Show what an envelope says (signatures are not checked).
    #[command(after_help = INSPECT_EXAMPLES)]
    Inspect(InspectArgs),
}

#[derive(Debug, clap::Args)]
pub struct CutArgs {
    /// Manifest signing key (file or pkcs11: URI); repeat for k-of-n signing.
    #[arg(short = 'k', long = "key", value_name = "KEY", required = true)]
    pub keys: Vec<String>,
    /// The signed MCUboot image this release installs.
    #[arg(long, required = true)]
    pub image: Option<PathBuf>,
    /// Anti-rollback sequence number (strictly increasing per device class).
    #[arg(long, required = true)]
    pub sequence: Option<u64>,
    /// Vendor domain (vendor-id = UUIDv5(DNS, domain)).
    #[arg(long = "vendor", required = true)]
    pub vendor: Option<String>,
    /// Device class name (class-id = UUIDv5(vendor-id, name)).
    #[arg(long = "class", required = true)]
    pub class: Option<String>,
    /// Version string for the release text.
    #[arg(long = "version", required = true)]
    pub version: Option<String>,
    /// Release notes (severable text member).
    #[arg(long, default_value = "")]
    pub notes: String,
    /// Install URI written in the manifest (default: the image file name, relative).
    #[arg(long = "image-uri")]
    pub image_uri: Option<String>,
    /// An earlier signed image devices may run: adds a delta patch from it (repeatable).
    #[arg(long = "delta-from", value_name = "OLD")]
    pub delta_from: Vec<PathBuf>,
    /// Output directory for the bundle (must not contain a previous bundle).
    #[arg(short = 'o', long = "out", required = true)]
    pub out: Option<PathBuf>,
    /// Where the last signed sequence per class is kept.
    #[arg(long = "state-file", default_value = ".signer-release-state.json")]
    pub state_file: PathBuf,
    /// Sign even if the sequence is not above the last one recorded.
    #[arg(long)]
    pub force: bool,
    /// Print the plan and stop.
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Append one audit record per signature here (default $SIGNER_AUDIT_LOG, else
    /// $XDG_STATE_HOME/signer/audit.jsonl or ~/.local/state/signer/audit.jsonl). Signing fails,
    /// and no bundle is written, if a record cannot be written.
    #[arg(long = "audit-log", value_name = "PATH")]
    pub audit_log: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Trusted manifest public key (PEM or DER SPKI); repeat for several.
    #[arg(short = 'k', long = "key", required = true)]
    pub keys: Vec<PathBuf>,
    /// Signatures by distinct trusted keys required.
    #[arg(long, default_value_t = 1)]
    pub threshold: usize,
    /// Expected vendor domain (checks vendor-id; needs --class).
    #[arg(long = "vendor", requires = "class")]
    pub vendor: Option<String>,
    /// Expected device class name (checks class-id; needs --vendor).
    #[arg(long = "class", requires = "vendor")]
    pub class: Option<String>,
    /// Bind this image to the release (digest, size, MCUboot signature).
    #[arg(long, requires = "image_keys")]
    pub image: Option<PathBuf>,
    /// Trusted image public key(s) for --image.
    #[arg(long = "image-key")]
    pub image_keys: Vec<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The envelope (release.suit).
    pub envelope: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The envelope (release.suit).
    pub envelope: PathBuf,
}

pub fn run(args: &Args) -> Result<(), Error> {
    match &args.command {
        Some(Sub::Verify(v)) => verify(v),
        Some(Sub::Inspect(i)) => lib::release_inspect(&i.envelope, i.json, &mut std::io::stdout()),
        None => cut(&args.cut),
    }
}

fn cut(args: &CutArgs) -> Result<(), Error> {
    let missing = |what: &str| Error::usage(format!("{what} is required")).with_hint("see `signer release --help`");
    let lib_args = lib::ReleaseArgs {
        image: args.image.clone().ok_or_else(|| missing("--image"))?,
        out_dir: args.out.clone().ok_or_else(|| missing("--out"))?,
        sequence: args.sequence.ok_or_else(|| missing("--sequence"))?,
        vendor_domain: args.vendor.clone().ok_or_else(|| missing("--vendor"))?,
        class_name: args.class.clone().ok_or_else(|| missing("--class"))?,
        version: args.version.clone().ok_or_else(|| missing("--version"))?,
        notes: args.notes.clone(),
        image_uri: args.image_uri.clone(),
        deltas: Vec::new(),
        delta_from: args.delta_from.clone(),
        state_file: args.state_file.clone(),
        force: args.force,
        dry_run: args.dry_run,
    };
    // Every manifest signature goes through the audit log before the library gets it (and so
    // before the bundle is written): a record that cannot be written stops the release.
    let audit_path = audit::log_path(args.audit_log.as_deref())?;
    let mut template = AuditEntry::for_command("release");
    template.input = Some(lib_args.image.display().to_string());
    template.input_sha256 = crate::input::read_bounded(&lib_args.image, crate::input::MAX_FLAT_IMAGE, "image")
        .ok()
        .map(|b| audit::sha256_hex(&b));
    template.output = Some(lib_args.out_dir.display().to_string());
    template.version = Some(lib_args.version.clone());
    template.sequence = Some(lib_args.sequence);
    let keys = args
        .keys
        .iter()
        .map(|k| AuditedKey::open(k, audit_path.clone(), template.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.iter().any(|k| k.is_file_key()) {
        eprintln!("warning: signing the manifest with a key file; production keys belong in an HSM (-k pkcs11:...)");
    }
    let adapters = keys
        .iter()
        .map(|k| KeyCoseSigner::new(k))
        .collect::<Result<Vec<_>, _>>()?;
    let signers: Vec<&dyn CoseSigner> = adapters.iter().map(|a| a as &dyn CoseSigner).collect();
    lib::release(&lib_args, &signers, &mut std::io::stdout())
}

fn verify(args: &VerifyArgs) -> Result<(), Error> {
    let lib_args = lib::VerifyArgs {
        envelope: args.envelope.clone(),
        keys: args.keys.clone(),
        threshold: args.threshold,
        vendor_domain: args.vendor.clone(),
        class_name: args.class.clone(),
        image: args.image.clone(),
        image_keys: args.image_keys.clone(),
        json: args.json,
    };
    lib::release_verify(&lib_args, &mut std::io::stdout())?.map(|_| ())
}
