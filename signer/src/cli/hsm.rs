//! `signer hsm list [--json] [pkcs11:...]`: tokens and the key objects in them.

use crate::error::Error;
use crate::keys::pkcs11::{list_tokens, TokenListing};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  signer hsm list --pkcs11-module /usr/lib/softhsm/libsofthsm2.so\n  PKCS11_PIN=... signer hsm list --json 'pkcs11:token=fw-release'"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: HsmCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum HsmCommand {
    /// List tokens and key objects (label, id, type, key hash).
    #[command(
        after_help = "Examples:\n  signer hsm list --pkcs11-module /usr/lib/softhsm/libsofthsm2.so\n  PKCS11_PIN=... signer hsm list --json \\\n      'pkcs11:token=fw-release?module-path=/usr/lib/softhsm/libsofthsm2.so'\n\nWithout a PIN only public objects are listed. A PIN from pin-source in the URI or PKCS11_PIN is\nused when set; --login asks for one on the terminal."
    )]
    List(ListArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Limit to a token and/or give module-path and pin-source (default `pkcs11:`, all tokens).
    #[arg(value_name = "URI", default_value = "pkcs11:")]
    pub uri: String,
    /// Ask for the PIN on the terminal when none is configured, to list private keys too.
    #[arg(long)]
    pub login: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &Args) -> Result<(), Error> {
    match &args.command {
        HsmCommand::List(list) => run_list(list),
    }
}

fn run_list(args: &ListArgs) -> Result<(), Error> {
    let tokens = list_tokens(&args.uri, args.login)?;
    if args.json {
        super::print_json(&serde_json::json!({ "tokens": tokens }));
        return Ok(());
    }
    if tokens.is_empty() {
        println!("no initialized tokens");
    }
    for token in &tokens {
        print_token(token);
    }
    Ok(())
}

fn print_token(token: &TokenListing) {
    println!(
        "token {:?}  slot {}  serial {}  {} {}{}",
        token.label,
        token.slot,
        token.serial,
        token.manufacturer,
        token.model,
        if token.user_pin_locked { "  USER PIN LOCKED" } else { "" }
    );
    if !token.logged_in && token.login_required {
        println!("  (not logged in: public objects only; set PKCS11_PIN or pass --login to see private keys)");
    }
    if token.keys.is_empty() {
        println!("  no key objects");
    }
    for key in &token.keys {
        println!(
            "  {:<7} {:<11} label {:?}  id {}  key hash {}",
            key.class,
            key.key_type,
            key.label,
            if key.id.is_empty() { "-" } else { &key.id },
            key.key_hash.as_deref().unwrap_or("-")
        );
    }
}
