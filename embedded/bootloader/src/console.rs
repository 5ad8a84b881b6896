//! Output through ARM semihosting (QEMU prints it on the host) without `core::fmt`, whose
//! formatting machinery would drag panicking code into the bootloader.

use cortex_m_semihosting::hio;

/// A line being written to the host's stdout.
pub struct Line {
    out: Option<hio::HostStream>,
}

impl Line {
    pub fn new(prefix: &str) -> Self {
        let mut line = Self {
            out: hio::hstdout().ok(),
        };
        line.text(prefix);
        line
    }

    pub fn text(&mut self, text: &str) -> &mut Self {
        if let Some(out) = self.out.as_mut() {
            let _ = out.write_all(text.as_bytes());
        }
        self
    }

    /// Writes `value` in decimal.
    pub fn num(&mut self, value: u64) -> &mut Self {
        let mut digits = [0u8; 20];
        let mut len = 0;
        let mut rest = value;
        for slot in digits.iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
            len += 1;
            if rest == 0 {
                break;
            }
        }
        let start = digits.len() - len;
        if let (Some(out), Some(text)) = (self.out.as_mut(), digits.get(start..)) {
            let _ = out.write_all(text);
        }
        self
    }

    pub fn end(&mut self) {
        self.text("\n");
    }
}

/// Ends the QEMU run: semihosting SYS_EXIT, exit status 0 for success and 1 otherwise.
pub fn exit(success: bool) -> ! {
    use cortex_m_semihosting::debug;
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}
