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

// USART1 (`-serial` of qemu-system-arm): status and data registers.
const USART1: usize = 0x4001_1000;
const USART_SR: usize = USART1;
const USART_DR: usize = USART1 + 0x04;
const USART_CR1: usize = USART1 + 0x0C;

/// Enable USART1's receiver (QEMU drops bytes that reach a disabled one).
pub fn init() {
    // SAFETY: a fixed, aligned USART1 register of the STM32F405; the
    // firmware is single-threaded and owns the peripheral.
    unsafe {
        let cr1 = USART_CR1 as *mut u32;
        cr1.write_volatile(cr1.read_volatile() | (1 << 13) | (1 << 3) | (1 << 2));
        // UE, TE, RE
    }
}

/// Fill `buf` from USART1, blocking.
pub fn read(buf: &mut [u8]) {
    for b in buf {
        // SAFETY: USART1 registers, see `init`.
        unsafe {
            while (USART_SR as *const u32).read_volatile() & (1 << 5) == 0 {} // RXNE
            *b = (USART_DR as *const u32).read_volatile() as u8;
        }
    }
}
