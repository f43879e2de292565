//! One module per board: its name, its output backend and its counter.
//! The rest of the firmware only sees what this module re-exports.

#[cfg(feature = "netduinoplus2")]
mod netduinoplus2;
#[cfg(feature = "netduinoplus2")]
pub use netduinoplus2::*;

#[cfg(feature = "nucleo-f746zg")]
mod nucleo_f746zg;
#[cfg(feature = "nucleo-f746zg")]
pub use nucleo_f746zg::*;
