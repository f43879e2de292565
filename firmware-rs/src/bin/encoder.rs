//! The device half of SemanticNN: encode the baked-in test images with the
//! int8 encoder, pack the symbols (MSB-first, `SYMBOL_BITS` each) and emit,
//! per image, the packed frame and the instruction (QEMU) or cycle (hardware)
//! count of the inference.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use semanticnn_core::{bits, nn::Encoder};
use semanticnn_firmware::{board, outln, stack};

#[allow(dead_code)]
mod baked {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}
use baked::*;

// The plan's buffers, sized by build.rs; only `main` touches them, once.
static mut ARENA: [i8; ARENA_LEN] = [0; ARENA_LEN];
static mut WORK: [i16; WORK_LEN] = [0; WORK_LEN];
static mut SYMBOLS: [u8; NUM_SYMBOLS] = [0; NUM_SYMBOLS];
const FRAME_LEN: usize = bits::packed_len(NUM_SYMBOLS, SYMBOL_BITS as u8);
static mut FRAME: [u8; FRAME_LEN] = [0; FRAME_LEN];

#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    board::init();
    semanticnn_firmware::banner();
    semanticnn_firmware::calibrate();
    // SAFETY: `main` runs once and is the only user of these buffers.
    let (arena, work, symbols, frame) = unsafe {
        (
            &mut *addr_of_mut!(ARENA),
            &mut *addr_of_mut!(WORK),
            &mut *addr_of_mut!(SYMBOLS),
            &mut *addr_of_mut!(FRAME),
        )
    };
    let encoder = match Encoder::new(MODEL) {
        Ok(e) => e,
        Err(e) => {
            outln!("ERROR model: {}", e);
            board::exit(false)
        }
    };
    outln!(
        "MODEL macs={} symbols={} bits={} images={} arena={} work={}",
        MACS,
        NUM_SYMBOLS,
        SYMBOL_BITS,
        NUM_IMAGES,
        ARENA_LEN,
        2 * WORK_LEN
    );
    for (i, image) in IMAGES.chunks_exact(INPUT_LEN).enumerate() {
        let t0 = board::counter::now();
        let done = encoder.encode(image, arena, work, symbols);
        let t1 = board::counter::now();
        if let Err(e) = done {
            outln!("ERROR image {}: {}", i, e);
            board::exit(false)
        }
        let len = match bits::pack(symbols, SYMBOL_BITS as u8, frame) {
            Ok(len) => len,
            Err(e) => {
                outln!("ERROR frame {}: {}", i, e);
                board::exit(false)
            }
        };
        let mut out = semanticnn_firmware::log::Out::new();
        let _ = core::fmt::Write::write_fmt(
            &mut out,
            format_args!("FRAME i={} ticks={} hex=", i, t1 - t0),
        );
        out.hex(&frame[..len]);
        out.bytes(b"\n");
    }
    outln!("STACK peak={}", stack::peak());
    outln!("DONE");
    board::exit(true)
}
