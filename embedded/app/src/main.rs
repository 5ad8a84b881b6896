//! The application image the example bootloader verifies and boots on QEMU `mps2-an386`.
//! It proves it runs by printing through semihosting, then ends QEMU with exit status 0.
#![no_std]
#![no_main]

#[path = "../../common/vectors.rs"]
mod vectors;

use core::panic::PanicInfo;

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hio};

#[entry]
fn main() -> ! {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(b"app: hello from the verified application\n");
    }
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_info: &PanicInfo<'_>) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
