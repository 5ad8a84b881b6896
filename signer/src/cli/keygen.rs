//! `signer keygen -t ed25519|ecdsa-p256 -k KEY.pem`

use std::path::PathBuf;

use crate::failure::Failure;
use crate::keys::{generate_file_key, key_hash, KeyAlgorithm, SigningKey};
use crate::output::Overwrite;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  signer keygen -t ed25519 -k dev-key.pem\n\nThe file is an unencrypted PKCS#8 PEM (mode 0600) that imgtool reads too.\nFile keys are for development: production keys belong in an HSM."
)]
pub struct Args {
    /// Key type: ed25519 or ecdsa-p256.
    #[arg(short = 't', long = "type", value_name = "TYPE")]
    pub key_type: String,
    /// Where to write the private key.
    #[arg(short = 'k', long = "key", value_name = "FILE")]
    pub key: PathBuf,
    /// Replace an existing key file.
    #[arg(long)]
    pub force: bool,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> Result<(), Failure> {
    let algorithm: KeyAlgorithm = args.key_type.parse()?;
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    let key = generate_file_key(algorithm, &args.key, overwrite)?;
    let hash = hex::encode(key_hash(&key.public_spki()?));
    if args.json {
        super::print_json(&serde_json::json!({
            "key": args.key, "type": algorithm.imgtool_name(), "key_hash": hash,
        }));
    } else {
        eprintln!(
            "wrote {} key to {} (key hash {hash})",
            algorithm.imgtool_name(),
            args.key.display()
        );
    }
    Ok(())
}
