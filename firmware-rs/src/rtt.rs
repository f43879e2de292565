//! RTT, the debug probe's channels in RAM: up channel 0 carries defmt log
//! lines, up channel 1 ("frames") the same records as the UART, so a board
//! needs only its USB cable (`semanticnn receive --rtt`).
//!
//! The channels start non-blocking, so that a board without a probe attached
//! runs on; probe-rs switches them to blocking when it attaches, and then
//! nothing is lost. The frames buffer holds the baked images' records until
//! a probe comes to read them. Both live in the `.rtt` section, which each
//! board's `memory.x` places first in RAM (uncached on the Cortex-M7).

use core::cell::RefCell;

use critical_section::Mutex;
use rtt_target::{rtt_init, ChannelMode, UpChannel};
use semanticnn_core::firmware::{RTT_FRAMES_BUFFER, RTT_LOG_BUFFER};

static FRAMES: Mutex<RefCell<Option<UpChannel>>> = Mutex::new(RefCell::new(None));

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

/// Write `bytes` to the frames channel: whole or not at all while no probe
/// reads (`NoBlockSkip`), waiting for room once one has attached.
pub fn write(bytes: &[u8]) {
    critical_section::with(|cs| {
        if let Some(channel) = FRAMES.borrow(cs).borrow_mut().as_mut() {
            channel.write(bytes);
        }
    });
}
