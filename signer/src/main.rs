//! `signer`: see `signer --help`. All logic lives in the library; this maps failures to
//! `error:`/`hint:` on stderr and to exit codes (0 ok, 1 invalid, 2 usage/operational).

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
    if let Err(failure) = signer::cli::run(cli) {
        eprintln!("{failure}");
        std::process::exit(failure.exit_code());
    }
}
