#!/usr/bin/env bash
# Code size and per-function stack of the device-side delta apply on Cortex-M4
# (thumbv7em-none-eabihf, opt-level "s", LTO, panic=abort), from a throwaway C-ABI wrapper
# crate built in a temporary directory. Stack sizes come from LLVM's -Z emit-stack-sizes
# (RUSTC_BOOTSTRAP=1 on the stable toolchain; measurement only). Needs the rustup target and
# llvm-readobj / llvm-size (Debian `llvm`).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
cat > "$tmp/Cargo.toml" <<TOML
[package]
name = "delta-size"
version = "0.0.0"
edition = "2021"
[lib]
crate-type = ["staticlib"]
[dependencies]
device-verifier = { path = "$here/device-verifier", default-features = false }
[profile.release]
opt-level = "s"
lto = true
codegen-units = 1
panic = "abort"
[workspace]
TOML
cat > "$tmp/src/lib.rs" <<'RS'
#![no_std]
use device_verifier::delta::{apply, read_header, ApplyRam};
use device_verifier::{FlashError, FlashWrite, SliceFlash};
extern "C" {
    fn flash_erase(offset: u32, len: u32) -> i32;
    fn flash_write(offset: u32, data: *const u8, len: usize) -> i32;
}
struct Target;
impl FlashWrite for Target {
    fn capacity(&self) -> u32 { 1 << 20 }
    fn erase(&mut self, offset: u32, len: u32) -> Result<(), FlashError> {
        if unsafe { flash_erase(offset, len) } == 0 { Ok(()) } else { Err(FlashError) }
    }
    fn write(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        if unsafe { flash_write(offset, data.as_ptr(), data.len()) } == 0 { Ok(()) } else { Err(FlashError) }
    }
}
#[no_mangle]
pub extern "C" fn delta_apply(base: *const u8, base_len: usize, patch: *const u8, patch_len: usize,
                              ram: *mut ApplyRam, page: *mut u8, page_len: usize) -> u32 {
    let base = unsafe { core::slice::from_raw_parts(base, base_len) };
    let mut source = unsafe { core::slice::from_raw_parts(patch, patch_len) };
    let page = unsafe { core::slice::from_raw_parts_mut(page, page_len) };
    let ram = unsafe { &mut *ram };
    let header = match read_header(&mut source) { Ok(h) => h, Err(e) => return e.offset | 0x8000_0000 };
    match apply(&header, &mut SliceFlash::new(base), &mut Target, &mut source, ram, page) {
        Ok(a) => a.result_size(),
        Err(e) => e.offset | 0x8000_0000,
    }
}
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
RS
(cd "$tmp" && RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Z emit-stack-sizes" CARGO_TARGET_DIR="$tmp/target" \
    cargo build -q --release --target thumbv7em-none-eabihf)
mkdir "$tmp/obj" && (cd "$tmp/obj" && ar x ../target/thumbv7em-none-eabihf/release/libdelta_size.a)
obj="$(ls "$tmp"/obj/delta_size*.o)"
echo "code (text) of delta_apply and everything it pulls in, SHA-256 included:"
llvm-size "$obj"
echo
echo "stack frame per function (bytes), largest first:"
llvm-readobj --stack-sizes "$obj" | awk '/Functions:/{f=$2} /Size:/{printf "%6d  %s\n", strtonum($2), f}' |
    sed 's/\[//; s/\]//' | sort -rn | head -12
