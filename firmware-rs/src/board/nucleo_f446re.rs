//! NUCLEO-F446RE (STM32F446RE, Cortex-M4F, 180 MHz): the F405's core class
//! on a board sold today, the real twin of the QEMU-measured netduinoplus2.
//! Records go over USART2 (PA2 TX, PA3 RX), the ST-LINK virtual COM port, at
//! 115200 baud, and over RTT; log lines over RTT (defmt); time is the DWT
//! cycle counter.
//!
//! Clocks: PLL from HSI to 180 MHz with over-drive, 5 flash wait states,
//! prefetch and the ART accelerator's caches on (the HAL's set-up, checked
//! against the plan).

use stm32f4xx_hal::{pac, prelude::*};

use super::stm32f4::{self, Uart};

pub const NAME: &str = "nucleo-f446re";
pub const COUNTER_UNIT: &str = "cycles";

pub use crate::counter::dwt as counter;

static UART: Uart<pac::USART2> = Uart::new();

/// RTT, clocks, USART2 at 115200 8N1, the cycle counter, the `CLOCK` record.
pub fn init() {
    crate::rtt::init();
    crate::counter::dwt::enable();
    let dp = stm32f4::take();
    stm32f4::start(dp.RCC, &UART, "USART2", |rcc| {
        let gpioa = dp.GPIOA.split(rcc);
        dp.USART2.serial((gpioa.pa2, gpioa.pa3), 115_200.bps(), rcc)
    });
}

/// Output backend: USART2 and the RTT frames channel.
pub fn write(bytes: &[u8]) {
    UART.write(bytes);
    crate::rtt::write(bytes);
}

/// Fill `buf` from USART2, blocking.
pub fn read(buf: &mut [u8]) {
    UART.read(buf);
}

pub fn exit(_success: bool) -> ! {
    super::halt()
}
