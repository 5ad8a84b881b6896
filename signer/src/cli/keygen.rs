//! `signer keygen -t ed25519|ecdsa-p256 -k KEY.pem` (a development key file) or
//! `-k 'pkcs11:token=...;object=...'` (a key pair generated inside the token, never leaving it).

use std::path::Path;

use crate::error::Error;
use crate::keys::pkcs11::generate_token_key;
use crate::keys::{generate_file_key, is_pkcs11, key_hash, KeyAlgorithm, SigningKey};
use crate::output::Overwrite;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  signer keygen -t ed25519 -k dev-key.pem\n  PKCS11_MODULE=/usr/lib/softhsm/libsofthsm2.so signer keygen -t ed25519 \\\n      -k 'pkcs11:token=fw-release;object=image-key-2026'\n\nA file key is an unencrypted PKCS#8 PEM (mode 0600) that imgtool reads too; file keys are for\ndevelopment. With a pkcs11: URI the pair is generated inside the token: the private key is\nsensitive, never extractable and can only sign; the public key and its hash are printed.\nThe PIN comes from pin-source=file:... in the URI, PKCS11_PIN, or a prompt, never from arguments."
)]
pub struct Args {
    /// Key type: ed25519 or ecdsa-p256.
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    pub key_type: String,
    /// Where to create the private key: a file, or a pkcs11: URI with object=LABEL.
    #[arg(short = 'k', long = "key", value_name = "FILE|URI")]
    pub key: String,
    /// Replace an existing key file (never applies to token keys).
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> Result<(), Error> {
    let algorithm: KeyAlgorithm = args.key_type.parse()?;
    if is_pkcs11(&args.key) {
        return run_token(args, algorithm);
    }
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    let key = generate_file_key(algorithm, Path::new(&args.key), overwrite)?;
    let hash = hex::encode(key_hash(&key.public_spki()?));
    // The human line goes to stderr; with --json, stdout holds only the JSON document.
    eprintln!(
        "wrote {} key to {} (mode 0600, key hash {hash})",
        algorithm.imgtool_name(),
        args.key
    );
    if args.json {
        super::print_json(&serde_json::json!({
            "key": args.key, "type": algorithm.imgtool_name(), "key_hash": hash,
        }));
    }
    Ok(())
}

fn run_token(args: &Args, algorithm: KeyAlgorithm) -> Result<(), Error> {
    if args.force {
        return Err(Error::usage("--force does not apply to keys in a token")
            .with_hint("the signer never replaces keys in a token; choose a new object= label"));
    }
    let key = generate_token_key(&args.key, algorithm)?;
    let hash = hex::encode(key_hash(&key.spki));
    let pem = pkcs8::der::pem::encode_string("PUBLIC KEY", pkcs8::LineEnding::LF, &key.spki)
        .map_err(|e| Error::internal(format!("cannot encode PEM: {e}")))?;
    if args.json {
        super::print_json(&serde_json::json!({
            "key": key.uri, "type": algorithm.imgtool_name(), "key_hash": hash, "public_key_pem": pem,
        }));
    } else {
        print!("{pem}");
        println!("key hash (SHA-256 of the DER SPKI): {hash}");
    }
    eprintln!(
        "generated {} key {} inside the token (private key sensitive, not extractable, sign-only)",
        algorithm.imgtool_name(),
        key.uri
    );
    Ok(())
}
