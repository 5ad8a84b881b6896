//! `signer verify -k KEY IMAGE`: the device's own verifier, on the host.

use std::path::PathBuf;

use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey};

use crate::error::Error;
use crate::keys::load_public_key;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  signer verify -k dev-key.pem app.signed.bin\n  signer verify -k old-pub.pem -k new-pub.pem --min-security-counter 5 --json app.signed.bin\n\nExit status: 0 valid, 1 invalid, 2 usage or operational error."
)]
pub struct Args {
    /// Trusted key (private or public key file, or a pkcs11: URI); repeat to trust several (key rotation).
    #[arg(short = 'k', long = "key", value_name = "KEY", required = true)]
    pub keys: Vec<String>,
    /// Refuse images whose security counter is below this floor (anti-rollback).
    #[arg(long = "min-security-counter", value_parser = super::parse_u32)]
    pub min_security_counter: Option<u32>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// The signed image (binary or .hex).
    pub image: PathBuf,
}

pub fn run(args: &Args) -> Result<(), Error> {
    let spkis = args
        .keys
        .iter()
        .map(|k| load_public_key(k))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = spkis
        .iter()
        .zip(&args.keys)
        .map(|(spki, name)| {
            TrustedKey::from_spki(spki)
                .ok_or_else(|| Error::key(format!("{name}: only Ed25519 and P-256 keys can be trusted")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let image = read_image(&args.image)?;
    let policy = ImagePolicy {
        trusted_keys: &keys,
        security_counter_floor: args.min_security_counter,
    };
    // Stream through a small buffer, exactly as a bootloader would.
    let mut buf = [0u8; 4096];
    match verify_image(&mut SliceFlash::new(&image), &policy, &mut buf) {
        Ok(verified) => {
            let header = verified.header();
            if args.json {
                super::print_json(&serde_json::json!({
                    "valid": true,
                    "version": header.version.to_string(),
                    "security_counter": verified.security_counter(),
                    "image_hash": hex::encode(verified.digest()),
                    "key": args.keys[verified.key_index()],
                    "signature": format!("{:?}", verified.signature_kind()),
                }));
            } else {
                println!("Image was correctly validated");
                println!(
                    "Image version: {}.{}.{}+{}",
                    header.version.major, header.version.minor, header.version.revision, header.version.build
                );
                println!("Image digest: {}", hex::encode(verified.digest()));
            }
            Ok(())
        }
        Err(error) => {
            if args.json {
                super::print_json(&serde_json::json!({
                    "valid": false, "reason": error.kind.as_str(), "offset": error.offset,
                }));
            }
            Err(Error::invalid(format!("image is invalid: {error}")).with_hint(hint_for(error.kind)))
        }
    }
}

fn hint_for(kind: device_verifier::VerifyErrorKind) -> &'static str {
    use device_verifier::VerifyErrorKind as K;
    match kind {
        K::UntrustedKey => "the image was signed by a key you did not pass with -k",
        K::Rollback => "the image's security counter is below --min-security-counter",
        K::HashMismatch | K::BadSignature => "the image was modified after signing, or signed by another key",
        K::Malformed(_) | K::ExceedsSlot => "the file is not a complete MCUboot image",
        _ => "see `signer dumpinfo` for the image's layout",
    }
}

/// Reads a binary image, or flattens a .hex one.
pub(crate) fn read_image(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("hex")) {
        return crate::input::load(path, crate::input::MAX_FLAT_IMAGE).map(|f| f.bytes);
    }
    crate::input::read_bounded(path, crate::input::MAX_FLAT_IMAGE, "image")
}
