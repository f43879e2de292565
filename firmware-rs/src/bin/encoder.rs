//! The device half of SemanticNN: encode the baked-in test images with the
//! int8 encoder, put the symbols (`SYMBOL_BITS` each) into a wire frame
//! (`semanticnn_core::frame`: protected header, no pilot, packed payload) and
//! emit, per image, the frame and the instruction (QEMU) or cycle (hardware)
//! count of the inference. Then it prints `READY` and encodes the images
//! streamed to its UART (`semanticnn_core::stream` headers), until an end
//! header; a malformed header is reported (`ERROR stream: ...`) and ends the
//! program, it never panics.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use semanticnn_core::{
    frame::{self, Header},
    nn::Encoder,
    stream,
};
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
/// The wire frame's model id: the core's device default (one model per image).
const MODEL_ID: u8 = frame::DEVICE_MODEL_ID;
/// Pilot bits per frame: the core's device default (none: the edge
/// estimates each frame's BER from the header's Golay corrections;
/// `semanticnn.firmware.frames` reads the same constants).
const PILOT_BITS: u16 = frame::DEVICE_PILOT_BITS;
const FRAME_LEN: usize = frame::encoded_len(NUM_SYMBOLS, SYMBOL_BITS as u8, PILOT_BITS as usize);
static mut FRAME: [u8; FRAME_LEN] = [0; FRAME_LEN];
static mut INPUT: [u8; INPUT_LEN] = [0; INPUT_LEN];

/// The buffers of one inference.
struct Buffers {
    arena: &'static mut [i8],
    work: &'static mut [i16],
    symbols: &'static mut [u8],
    frame: &'static mut [u8],
}

/// Encode one image, pack its symbols and print its `FRAME` record;
/// an error is reported and ends the program.
fn emit(encoder: &Encoder<'_>, b: &mut Buffers, src: &str, i: usize, image: &[u8]) {
    let t0 = board::counter::now();
    let done = encoder.encode(image, b.arena, b.work, b.symbols);
    let t1 = board::counter::now();
    if let Err(e) = done {
        outln!("ERROR image {} {}: {}", src, i, e);
        board::exit(false)
    }
    let header = Header {
        model_id: MODEL_ID,
        seq: (i % (usize::from(frame::MAX_SEQ) + 1)) as u16, // wraps, as the format says
        nbits: SYMBOL_BITS as u8,
        count: 0, // the encoder takes it from the symbols
        // The head already Gray-maps when the model says so: the flag tells
        // the edge, and `encode_mapped_into` packs the symbols as they are.
        gray: MODEL.head.gray,
        pilot_bits: PILOT_BITS,
    };
    let len = match frame::encode_mapped_into(b.symbols, &header, b.frame) {
        Ok(len) => len,
        Err(e) => {
            outln!("ERROR frame {} {}: {}", src, i, e);
            board::exit(false)
        }
    };
    semanticnn_firmware::info!(
        "{} image {}: {} {}, frame {} bytes",
        src,
        i,
        t1 - t0,
        board::COUNTER_UNIT,
        len
    );
    let mut out = semanticnn_firmware::log::Out::new();
    let _ = core::fmt::Write::write_fmt(
        &mut out,
        format_args!("FRAME src={} i={} ticks={} hex=", src, i, t1 - t0),
    );
    out.hex(&b.frame[..len]);
    out.bytes(b"\n");
}

#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    board::init();
    semanticnn_firmware::banner();
    semanticnn_firmware::calibrate();
    // SAFETY: `main` runs once and is the only user of these buffers.
    let (mut b, input) = unsafe {
        (
            Buffers {
                arena: &mut *addr_of_mut!(ARENA),
                work: &mut *addr_of_mut!(WORK),
                symbols: &mut *addr_of_mut!(SYMBOLS),
                frame: &mut *addr_of_mut!(FRAME),
            },
            &mut *addr_of_mut!(INPUT),
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
        emit(&encoder, &mut b, "baked", i, image);
    }
    outln!("READY");
    let shape = [MODEL.input.h, MODEL.input.w, MODEL.input.c];
    let mut i = 0;
    loop {
        let mut header = [0u8; stream::HEADER_LEN];
        board::read(&mut header);
        let count = match stream::parse_header(&header, shape) {
            Ok(h) if h.count == 0 => break,
            Ok(h) => h.count,
            Err(e) => {
                outln!("ERROR stream: {}", e);
                board::exit(false)
            }
        };
        for _ in 0..count {
            board::read(input);
            emit(&encoder, &mut b, "uart", i, input);
            i += 1;
        }
    }
    outln!("STACK peak={}", stack::peak());
    outln!("DONE");
    board::exit(true)
}
