//! SemanticNN firmware support: the board (clocks, memory, counters, output),
//! the logging backend and the panic handler. The binaries in `src/bin/` use it.
#![no_std]

#[cfg(not(any(
    feature = "netduinoplus2",
    feature = "nucleo-f446re",
    feature = "nucleo-f746zg"
)))]
compile_error!("choose a board feature: netduinoplus2, nucleo-f446re or nucleo-f746zg");
#[cfg(any(
    all(feature = "netduinoplus2", feature = "nucleo-f446re"),
    all(feature = "netduinoplus2", feature = "nucleo-f746zg"),
    all(feature = "nucleo-f446re", feature = "nucleo-f746zg"),
))]
compile_error!("choose exactly one board feature");

pub mod board;
pub mod clock;
pub mod counter;
pub mod log;
mod panic;
#[cfg(feature = "rtt")]
pub mod rtt;
pub mod stack;

pub use board::NAME as BOARD;

/// Print the banner line.
pub fn banner() {
    outln!("SEMANTICNN board={} counter={}", BOARD, board::COUNTER_UNIT);
    info!("SemanticNN encoder on {}", BOARD);
}

/// Start the board's counter and print `CALIB`: the ticks a loop of
/// 2,000,000 instructions takes, which converts ticks into instructions
/// (under QEMU `-icount shift=0`; on hardware the ratio is the loop's
/// cycles per instruction).
pub fn calibrate() {
    const ITERATIONS: u32 = 1_000_000;
    board::counter::start();
    let t0 = board::counter::now();
    counter::spin(ITERATIONS);
    let t1 = board::counter::now();
    outln!("CALIB instructions={} ticks={}", 2 * ITERATIONS, t1 - t0);
}
