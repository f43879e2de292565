//! SemanticNN firmware support: the board (memory, counters, output), the
//! logging backend and the panic handler. The binaries in `src/bin/` use it.
#![no_std]

#[cfg(all(feature = "netduinoplus2", feature = "nucleo-f746zg"))]
compile_error!("choose exactly one board feature");
#[cfg(not(any(feature = "netduinoplus2", feature = "nucleo-f746zg")))]
compile_error!("choose a board feature: netduinoplus2 or nucleo-f746zg");

pub mod board;
pub mod counter;
pub mod log;
mod panic;

pub use board::NAME as BOARD;
