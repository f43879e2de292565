//! RTT, the debug probe's channels in RAM: up channel 0 carries defmt log
//! lines, up channel 1 ("frames") the same records as the UART, so a board
//! needs only its USB cable (`semanticnn receive --rtt`).
//!
//! The channels start non-blocking, so that a board without a probe attached
//! runs on; probe-rs switches them to blocking when it attaches, and then
//! nothing is lost. The frames buffer holds the baked images' records until
//! a probe comes to read them when they fit (the default model's 16 take
//! about 2.9 KiB of its 8 KiB); a line that does not fit is dropped whole
//! (the UART still carries every one). Both live in the `.rtt` section, which each
//! board's `memory.x` places first in RAM (uncached on the Cortex-M7).

use core::cell::{Cell, RefCell};

use critical_section::Mutex;
use rtt_target::{rtt_init, ChannelMode, UpChannel};
use semanticnn_core::firmware::{RTT_FRAMES_BUFFER, RTT_LOG_BUFFER};

static FRAMES: Mutex<RefCell<Option<UpChannel>>> = Mutex::new(RefCell::new(None));
/// Set when a piece of a line was skipped (the buffer full, no probe): the
/// rest of that line is dropped too, so the reader only ever sees whole lines.
static SKIPPING: Mutex<Cell<bool>> = Mutex::new(Cell::new(false));

/// Set up the control block and both channels; call once, first thing.
pub fn init() {
    let channels = rtt_init! {
        up: {
            0: {
                size: RTT_LOG_BUFFER,
                mode: ChannelMode::NoBlockSkip,
                name: "defmt",
                section: ".rtt.buffers"
            }
            1: {
                size: RTT_FRAMES_BUFFER,
                mode: ChannelMode::NoBlockSkip,
                name: "frames",
                section: ".rtt.buffers"
            }
        }
        section_cb: ".rtt.control"
    };
    rtt_target::set_defmt_channel(channels.up.0);
    critical_section::with(|cs| FRAMES.borrow(cs).replace(Some(channels.up.1)));
}

/// Write `bytes`, a piece of a record line (`log::Out` hands long lines over
/// in pieces), to the frames channel: whole or not at all while no probe
/// reads (`NoBlockSkip`), waiting for room once one has attached. After a
/// skipped piece the rest of its line is skipped as well.
pub fn write(bytes: &[u8]) {
    critical_section::with(|cs| {
        let skipping = SKIPPING.borrow(cs);
        if let Some(channel) = FRAMES.borrow(cs).borrow_mut().as_mut() {
            if !skipping.get() && channel.write(bytes) < bytes.len() {
                skipping.set(true);
            }
        }
        if bytes.last() == Some(&b'\n') {
            skipping.set(false);
        }
    });
}
