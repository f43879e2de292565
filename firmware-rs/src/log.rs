//! Output, in one place. `out!`/`outln!` format into a line buffer and hand
//! it to the board's backend (semihosting under QEMU, a UART on hardware);
//! the board module decides which.

use core::fmt;

/// A small buffer in front of the backend, so one line costs one
/// semihosting call (or one burst on the UART), not one per `fmt` piece.
pub struct Out {
    buf: [u8; 256],
    len: usize,
}

impl Out {
    pub const fn new() -> Self {
        Self {
            buf: [0; 256],
            len: 0,
        }
    }

    pub fn bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.len == self.buf.len() {
                self.flush();
            }
            let n = bytes.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
            self.len += n;
            bytes = &bytes[n..];
        }
    }

    /// Lower-case hexadecimal of `bytes`.
    pub fn hex(&mut self, bytes: &[u8]) {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        for &b in bytes {
            self.bytes(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]]);
        }
    }

    pub fn flush(&mut self) {
        if self.len > 0 {
            crate::board::write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Out {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Write for Out {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.bytes(s.as_bytes());
        Ok(())
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `outln!("x = {}", x)`: one line on the board's output.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        let mut out = $crate::log::Out::new();
        let _ = core::fmt::Write::write_fmt(&mut out, format_args!($($arg)*));
        out.bytes(b"\n");
    }};
}

/// Semihosting: the debugger (QEMU) performs the I/O on the host.
#[cfg(feature = "semihosting")]
pub mod semihosting {
    use cortex_m_semihosting::{debug, hio};

    pub fn write(bytes: &[u8]) {
        if let Ok(mut stdout) = hio::hstdout() {
            let _ = stdout.write_all(bytes);
        }
    }

    pub fn exit(success: bool) -> ! {
        debug::exit(if success {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        // Without a debugger that ends the program, halt here.
        loop {
            cortex_m::asm::wfi();
        }
    }
}

/// `info!("x = {}", x)`: a log line for a person, over the debug probe
/// (defmt on RTT channel 0, shown by `probe-rs run` / `semanticnn flash
/// --attach`). The arguments must be `defmt::Format` and `Display` both.
#[cfg(feature = "rtt")]
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        defmt::info!($($arg)*)
    };
}

/// Boards without a probe (QEMU) have no log channel: their records already
/// carry the same numbers, so the line is dropped (its arguments evaluated).
#[cfg(not(feature = "rtt"))]
#[macro_export]
macro_rules! info {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {{
        $(let _ = &$arg;)*
    }};
}
