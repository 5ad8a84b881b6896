//! The device-specific part of the vector table, shared by the firmware crates.
//!
//! These programs enable no peripheral interrupt, so instead of cortex-m-rt's generic
//! 240-entry table (960 bytes of flash) they ship one entry, the minimum cortex-m-rt's linker
//! script accepts (`SIZEOF(.vector_table) > 0x40`). The `device` feature of cortex-m-rt makes it
//! take this table; `build.rs` supplies the empty `device.x` that feature includes.

extern "C" {
    /// cortex-m-rt's default handler (loops forever, or calls the user's `DefaultHandler`).
    fn DefaultHandler();
}

/// IRQ 0 only; the application installs its own table (VTOR) before enabling anything.
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
static __INTERRUPTS: [unsafe extern "C" fn(); 1] = [DefaultHandler];
