//! The device half of SemanticNN: encode the baked-in test images and emit
//! one wire frame per image, with the instruction (or cycle) count of each
//! inference. Until the int8 encoder is in the core crate, it calibrates the
//! counter and reports its stack use.
#![no_std]
#![no_main]

use semanticnn_firmware::{board, outln, stack};

#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    board::init();
    semanticnn_firmware::banner();
    semanticnn_firmware::calibrate();
    outln!("STACK peak={}", stack::peak());
    outln!("DONE");
    board::exit(true)
}
