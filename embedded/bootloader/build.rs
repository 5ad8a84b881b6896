//! Puts `memory.x` and an empty `device.x` where cortex-m-rt's `link.x` looks for them and
//! links with `link.x`.
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let memory = include_bytes!("memory.x");
    if let Err(e) = std::fs::write(out.join("memory.x"), memory) {
        eprintln!("cannot write memory.x: {e}");
        std::process::exit(1);
    }
    // cortex-m-rt's `device` feature INCLUDEs device.x (IRQ handler aliases): we have none.
    if let Err(e) = std::fs::write(out.join("device.x"), b"/* no device interrupts */\n") {
        eprintln!("cannot write device.x: {e}");
        std::process::exit(1);
    }
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rustc-link-arg-bins=-Tlink.x");
}
