//! Netduino Plus 2 (STM32F405RG, Cortex-M4F) as QEMU's `netduinoplus2`
//! machine models it. Output goes through semihosting; input comes over
//! USART1 (PA9/PA10); time is SysTick, which under `qemu-system-arm -icount
//! shift=0` counts executed instructions (scaled by the 168 MHz system clock
//! QEMU assumes, calibrated at run time).
//!
//! The clock stays the reset one (HSI, no PLL; `semanticnn_core::firmware::
//! clock::BOARDS`): QEMU has no model of the RCC, so a HAL waiting for a PLL
//! to lock would wait forever.

use stm32f4xx_hal::{pac, prelude::*};

use super::stm32f4::{self, Uart};

pub const NAME: &str = "netduinoplus2";
/// What the counter counts, as printed in the `COUNTER` line.
pub const COUNTER_UNIT: &str = "instructions";

pub use crate::counter::systick as counter;

static UART: Uart<pac::USART1> = Uart::new();

/// Clocks (the plan: reset HSI), USART1 at 115200 8N1 (QEMU drops bytes
/// that reach a disabled receiver), and the `CLOCK` record.
pub fn init() {
    let dp = stm32f4::take();
    stm32f4::start(dp.RCC, &UART, "USART1", |rcc| {
        let gpioa = dp.GPIOA.split(rcc);
        dp.USART1
            .serial((gpioa.pa9, gpioa.pa10), 115_200.bps(), rcc)
    });
}

/// Output backend: semihosting (the host's stdout).
pub fn write(bytes: &[u8]) {
    crate::log::semihosting::write(bytes);
}

/// Fill `buf` from USART1, blocking.
pub fn read(buf: &mut [u8]) {
    UART.read(buf);
}

/// End the program: the QEMU process exits with this status.
pub fn exit(success: bool) -> ! {
    crate::log::semihosting::exit(success)
}
