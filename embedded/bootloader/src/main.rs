//! Example bootloader for QEMU `mps2-an386` (Cortex-M4) on top of `device-verifier`.
//!
//! At reset it verifies the MCUboot image in the primary slot — hash, Ed25519 signature by the
//! trusted (test-only) key, and the security counter against the floor stored in the NV page —
//! and then jumps to the application in the slot, or prints why it refuses and stops QEMU with
//! exit status 1. It also reports what the issue asks to measure: how long verification took
//! (SysTick at the 25 MHz core clock; under `-icount shift=0` one instruction is 1 ns of
//! virtual time, so instructions = ticks × 40), the deepest stack use (painted stack), and the
//! slot's image size.
//!
//! Any reachable panic fails the link (the handler calls an undefined symbol), as in
//! `no-panic-check`; all `unsafe` is in `board.rs`.
#![no_std]
#![no_main]

#[path = "../../common/vectors.rs"]
mod vectors;

mod board;
mod console;

use core::panic::PanicInfo;

use console::Line;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::entry;
use device_verifier::{verify_image, ImagePolicy, SliceFlash, TrustedKey, VerifiedImage, VerifyError, VerifyErrorKind};

/// Test-only key (the imgtool sample key); a product compiles its own DER SPKI in here.
static TRUSTED_SPKI: [u8; 44] = *include_bytes!("../../keys/TEST-ONLY-ed25519-pub.spki.der");
/// mps2-an386 core clock (QEMU `SYSCLK_FRQ`), which SysTick counts with CLKSOURCE = core.
const CORE_HZ: u64 = 25_000_000;
/// Instructions per SysTick tick under `-icount shift=0` (1 instruction = 1 ns).
const INSNS_PER_TICK: u64 = 1_000_000_000 / CORE_HZ;

#[entry]
fn main() -> ! {
    let Some(mut p) = cortex_m::Peripherals::take() else {
        console::exit(false)
    };
    Line::new("boot: device-verifier bootloader, primary slot at 0x8000").end();

    p.SYST.set_clock_source(SystClkSource::Core);
    p.SYST.set_reload(0x00FF_FFFF);
    p.SYST.clear_current();
    p.SYST.enable_counter();
    // Calibration: cortex-m 0.7.10's `delay(n)` runs n + 1 iterations of `subs; bne`, i.e.
    // 400,002 instructions for n = 200,000: expect 10,000 ticks if a tick is 40 instructions.
    let calibration = measure(&mut p.SYST, || cortex_m::asm::delay(200_000));
    Line::new("boot: calibration: 400002-instruction loop = ")
        .num(calibration)
        .text(" ticks")
        .end();

    let floor = board::security_counter_floor();
    board::paint_stack();
    let mut outcome = None;
    let ticks = measure(&mut p.SYST, || outcome = Some(verify(floor)));
    let stack = board::stack_high_water();

    Line::new("boot: verify: ")
        .num(ticks)
        .text(" SysTick ticks = ")
        .num(ticks * INSNS_PER_TICK)
        .text(" instructions (icount shift=0); stack high-water ")
        .num(stack as u64)
        .text(" bytes")
        .end();

    match outcome {
        Some(Ok(image)) => {
            let header = image.header();
            Line::new("boot: image OK: ")
                .num(u64::from(header.img_size))
                .text(" byte body, version ")
                .num(u64::from(header.version.major))
                .text(".")
                .num(u64::from(header.version.minor))
                .text(".")
                .num(u64::from(header.version.revision))
                .text(", security counter ")
                .num(u64::from(image.security_counter().unwrap_or(0)))
                .text(" >= floor ")
                .num(u64::from(floor))
                .end();
            Line::new("boot: jumping to the application").end();
            // Hand the app a quiet core: no timer left running.
            p.SYST.disable_counter();
            board::boot(&mut p.SCB, board::SLOT_ADDR + usize::from(header.hdr_size))
        }
        Some(Err(error)) => {
            Line::new("boot: REFUSED: ")
                .text(reason(error.kind))
                .text(" (slot offset ")
                .num(u64::from(error.offset))
                .text(")")
                .end();
            console::exit(false)
        }
        None => console::exit(false),
    }
}

/// Why an image was refused, in words. Only the kinds image verification can produce are named:
/// `VerifyErrorKind::as_str` would also link every manifest and delta message (about 1.3 KB of
/// strings this bootloader can never print).
fn reason(kind: VerifyErrorKind) -> &'static str {
    match kind {
        VerifyErrorKind::HashMismatch => "image hash mismatch",
        VerifyErrorKind::UntrustedKey => "image signed by an untrusted key",
        VerifyErrorKind::BadSignature => "signature verification failed",
        VerifyErrorKind::Rollback => "security counter below the device's floor (rollback)",
        VerifyErrorKind::MissingSecurityCounter => "no security counter TLV",
        VerifyErrorKind::ExceedsSlot => "image exceeds its slot",
        VerifyErrorKind::Malformed(_) => "malformed image",
        _ => "image refused",
    }
}

fn verify(floor: u32) -> Result<VerifiedImage, VerifyError> {
    let Some(key) = TrustedKey::from_spki(&TRUSTED_SPKI) else {
        console::exit(false)
    };
    let policy = ImagePolicy {
        trusted_keys: &[key],
        // Anti-rollback (docs/ARCHITECTURE.md, trust model 4): the image's SEC_CNT must be >= the floor.
        security_counter_floor: Some(floor),
    };
    let mut buf = [0u8; 1024];
    verify_image(&mut SliceFlash::new(board::slot()), &policy, &mut buf)
}

/// SysTick ticks spent in `f` (the 24-bit counter counts down; one wrap is 0.67 s of virtual
/// time, far more than verification needs; a wrap is reported as the maximum).
fn measure(syst: &mut cortex_m::peripheral::SYST, f: impl FnOnce()) -> u64 {
    syst.clear_current();
    let _ = syst.has_wrapped();
    let start = cortex_m::peripheral::SYST::get_current();
    f();
    let end = cortex_m::peripheral::SYST::get_current();
    if syst.has_wrapped() {
        return u64::from(0x00FF_FFFFu32);
    }
    u64::from(start.wrapping_sub(end) & 0x00FF_FFFF)
}

extern "C" {
    /// Deliberately defined nowhere: a reachable panic fails the link.
    fn bootloader_panic_path_is_reachable() -> !;
}

#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    // SAFETY: never runs; the undefined symbol makes any reachable panic a link error.
    unsafe { bootloader_panic_path_is_reachable() }
}
