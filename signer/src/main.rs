//! `signer`: see `signer --help`. All logic lives in the library; errors are printed as
//! `error:`/`hint:` on stderr and mapped to exit codes by `signer::cli` (0 ok, 1 invalid,
//! 2 usage/operational).

use clap::Parser;

fn main() {
    let cli = match signer::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints its own `error:` and usage; keep exit code 2 for usage errors.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Err(error) = signer::cli::run(cli) {
        eprintln!("{}", signer::cli::render_error(&error));
        std::process::exit(signer::cli::exit_code(&error));
    }
}
