//! `otactl`: see `otactl --help`. Errors are printed as `error:`/`hint:` on stderr; exit 0 ok,
//! 1 the server refused, 2 usage, configuration or transport error.

use clap::Parser as _;

fn main() {
    let cli = match otactl::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints its own `error:` and usage; usage errors exit 2, --help/--version 0.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    if let Err(error) = otactl::cli::run(cli) {
        let text = error.render();
        if !text.is_empty() {
            eprintln!("{text}");
        }
        std::process::exit(error.exit_code());
    }
}
