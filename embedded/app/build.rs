//! Puts `memory.x` where cortex-m-rt's `link.x` looks for it and links with `link.x`.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let memory = include_bytes!("memory.x");
    if let Err(e) = std::fs::write(out.join("memory.x"), memory) {
        eprintln!("cannot write memory.x: {e}");
        std::process::exit(1);
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
