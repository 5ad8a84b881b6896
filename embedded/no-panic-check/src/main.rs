//! Link-time proof that `device-verifier` cannot panic on a Cortex-M4 (issue 2, item 6).
//!
//! The panic handler calls `device_verifier_panic_path_is_reachable`, a symbol nothing defines.
//! With `panic = "abort"`, LTO and `opt-level = "z"`, the handler survives to the link only if
//! some panic (bounds check, overflow check, `unwrap`, `core::fmt` panic, …) is reachable from
//! `verify_image`; then the link fails with an undefined-symbol error naming it. A successful
//! link therefore proves that every reachable path of the verifier returns instead of panicking.
//!
//! The image is read from a memory-mapped slot the compiler cannot see into, and the policy goes
//! through `black_box`, so nothing is constant-folded away: the whole verifier is linked.
#![no_std]
#![no_main]

#[path = "../../common/vectors.rs"]
mod vectors;

use core::hint::black_box;
use core::panic::PanicInfo;

use cortex_m_rt::entry;
use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey};

/// The primary slot: right after the 64 KiB bootloader partition (see memory.x), 256 KiB.
const SLOT_ADDR: usize = 0x0001_0000;
const SLOT_SIZE: usize = 0x0004_0000;

/// Test-only key (imgtool sample key); a product compiles its own DER SPKI in here.
static TRUSTED_SPKI: [u8; 44] = *include_bytes!("../../keys/TEST-ONLY-ed25519-pub.spki.der");

#[entry]
fn main() -> ! {
    // SAFETY: SLOT_ADDR..SLOT_ADDR+SLOT_SIZE is memory-mapped flash that is always readable and
    // never written while the bootloader runs, so a shared slice over it is sound.
    let slot: &'static [u8] = unsafe { core::slice::from_raw_parts(SLOT_ADDR as *const u8, SLOT_SIZE) };
    let keys = [TrustedKey::from_spki(black_box(&TRUSTED_SPKI))];
    let keys = keys.map(|k| k.unwrap_or_else(|| black_box_loop()));
    let policy = ImagePolicy {
        trusted_keys: &keys,
        security_counter_floor: black_box(Some(0)),
    };
    let mut buf = [0u8; 512];
    let result = verify_image(&mut SliceFlash::new(slot), &policy, &mut buf);
    // Use every field of the outcome so nothing in the verifier is dead code.
    black_box(&result);
    black_box_loop()
}

/// Never returns; stands in for "refuse to boot".
fn black_box_loop() -> ! {
    loop {
        black_box(());
    }
}

extern "C" {
    /// Deliberately defined nowhere: referencing it fails the link.
    fn device_verifier_panic_path_is_reachable() -> !;
}

#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    // SAFETY: the symbol does not exist; if this call survives dead-code elimination the link
    // fails, which is the point. It can never run.
    unsafe { device_verifier_panic_path_is_reachable() }
}
