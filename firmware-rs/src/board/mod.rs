//! One module per board: its name, its clocks, its output backend and its
//! counter. The rest of the firmware only sees what this module re-exports.
//! Clocks, GPIO and the UART go through the chip family's HAL:
//! stm32f4xx-hal (`stm32f4`) and stm32f7xx-hal.

#[cfg(any(feature = "netduinoplus2", feature = "nucleo-f446re"))]
mod stm32f4;

#[cfg(feature = "netduinoplus2")]
mod netduinoplus2;
#[cfg(feature = "netduinoplus2")]
pub use netduinoplus2::*;

#[cfg(feature = "nucleo-f446re")]
mod nucleo_f446re;
#[cfg(feature = "nucleo-f446re")]
pub use nucleo_f446re::*;

#[cfg(feature = "nucleo-f746zg")]
mod nucleo_f746zg;
#[cfg(feature = "nucleo-f746zg")]
pub use nucleo_f746zg::*;

/// A real board has nowhere to exit to: the status line was already
/// written, so halt here.
#[cfg(feature = "rtt")]
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}
