//! The device half of SemanticNN: encode the baked-in test images and emit
//! one wire frame per image, with the instruction (or cycle) count of each
//! inference.
#![no_std]
#![no_main]

use semanticnn_firmware::{board, counter, outln};

#[cortex_m_rt::entry]
fn main() -> ! {
    board::init();
    board::counter::start();
    outln!("SEMANTICNN board={}", semanticnn_firmware::BOARD);
    let t0 = board::counter::now();
    counter::spin(1_000_000);
    let t1 = board::counter::now();
    outln!("CALIB instructions={} ticks={}", 2_000_000, t1 - t0);
    outln!("DONE");
    board::exit(true)
}
