//! The QEMU mps2-an386 memory map (see memory.x) and the three things only `unsafe` can do:
//! view memory-mapped flash, paint/measure the stack, and jump into the application.
//! Every `unsafe` block of the bootloader is in this file.

/// Primary slot (MCUboot image) and its size.
pub const SLOT_ADDR: usize = 0x0000_8000;
pub const SLOT_SIZE: usize = 0x0008_0000;
/// NV page holding the anti-rollback floor (little-endian u32; erased = 0xFFFF_FFFF).
const NV_FLOOR_ADDR: usize = 0x0000_7F00;
/// What the stack is painted with before verification.
const PAINT: u32 = 0x5AA5_C33C;

extern "C" {
    // cortex-m-rt's linker script (link.x): top of the stack, and end of .bss / start of the
    // free RAM the stack grows down into.
    static _stack_start: u32;
    static __sheap: u32;
}

/// The primary slot as bytes (memory-mapped flash: reads are plain loads).
pub fn slot() -> &'static [u8] {
    // SAFETY: SLOT_ADDR..+SLOT_SIZE is inside ZBT SSRAM1 (4 MiB at 0) on mps2-an386, always
    // mapped and readable; nothing writes it while the bootloader runs, so a shared
    // 'static slice over it is sound.
    unsafe { core::slice::from_raw_parts(SLOT_ADDR as *const u8, SLOT_SIZE) }
}

/// The stored anti-rollback floor; an erased NV word means "no floor yet" (0).
pub fn security_counter_floor() -> u32 {
    // SAFETY: NV_FLOOR_ADDR is a 4-byte aligned address inside mapped SSRAM1 (see memory.x).
    let raw = unsafe { core::ptr::read_volatile(NV_FLOOR_ADDR as *const u32) };
    if raw == u32::MAX {
        0
    } else {
        raw
    }
}

fn stack_bounds() -> (usize, usize) {
    // Only the addresses of the linker symbols are used, never their contents.
    let bottom = core::ptr::addr_of!(__sheap) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    (bottom, top)
}

/// Fills the unused stack (from the end of static RAM up to a little below the current stack
/// pointer) with `PAINT`, so that [`stack_high_water`] can later see how deep it was used.
#[inline(never)]
pub fn paint_stack() {
    let (bottom, _) = stack_bounds();
    // Leave 64 bytes under this function's own frame alone.
    let limit = cortex_m::register::msp::read() as usize - 64;
    let mut at = (bottom + 3) & !3;
    while at < limit {
        // SAFETY: [bottom, limit) lies between the end of .bss/.data and the live stack, so
        // no Rust object lives there; the address is 4-byte aligned and in mapped RAM.
        unsafe { core::ptr::write_volatile(at as *mut u32, PAINT) };
        at += 4;
    }
}

/// Bytes of stack used since [`paint_stack`]: from the top down to the deepest overwritten word.
pub fn stack_high_water() -> usize {
    let (bottom, top) = stack_bounds();
    let mut at = (bottom + 3) & !3;
    while at < top {
        // SAFETY: as in `paint_stack`; reads of aligned words in mapped RAM.
        if unsafe { core::ptr::read_volatile(at as *const u32) } != PAINT {
            break;
        }
        at += 4;
    }
    top - at
}

/// Starts the application whose vector table is at `vector_table` (inside the slot).
pub fn boot(scb: &mut cortex_m::peripheral::SCB, vector_table: usize) -> ! {
    // SAFETY: points exception handling at the application's table; nothing of the
    // bootloader runs after this except the jump below.
    unsafe { scb.vtor.write(vector_table as u32) };
    // SAFETY: only called for a slot `verify_image` accepted: the table holds the app's
    // initial stack pointer and reset vector. `bootload` loads MSP from word 0 and branches to
    // word 1; the bootloader's stack and state are abandoned.
    unsafe { cortex_m::asm::bootload(vector_table as *const u32) }
}
