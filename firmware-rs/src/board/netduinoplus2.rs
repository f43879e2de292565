//! Netduino Plus 2 (STM32F405RG, Cortex-M4F) as QEMU's `netduinoplus2`
//! machine models it. Output goes through semihosting; time is SysTick, which
//! under `qemu-system-arm -icount shift=0` counts executed instructions
//! (scaled by the 168 MHz system clock, calibrated at run time).

pub const NAME: &str = "netduinoplus2";
/// What the counter counts, as printed in the `COUNTER` line.
pub const COUNTER_UNIT: &str = "instructions";

pub use crate::counter::systick as counter;

/// Output backend: semihosting (the host's stdout).
pub fn write(bytes: &[u8]) {
    crate::log::semihosting::write(bytes);
}

/// End the program: the QEMU process exits with this status.
pub fn exit(success: bool) -> ! {
    crate::log::semihosting::exit(success)
}

pub fn init() {}
