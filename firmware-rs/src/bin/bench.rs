//! Kernel benchmark: run each baked benchmark layer (`SEMANTICNN_BENCH_MODELS`)
//! once and print its counter ticks, MACs and int8 output, which the host
//! checks against its own result.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use semanticnn_core::nn::Encoder;
use semanticnn_firmware::{board, log::Out, outln};

#[allow(dead_code)]
mod baked {
    include!(concat!(env!("OUT_DIR"), "/model.rs"));
}
use baked::{BENCH, BENCH_ARENA_LEN, BENCH_WORK_LEN};

static mut ARENA: [i8; BENCH_ARENA_LEN] = [0; BENCH_ARENA_LEN];
static mut WORK: [i16; BENCH_WORK_LEN] = [0; BENCH_WORK_LEN];

#[cortex_m_rt::entry]
fn main() -> ! {
    board::init();
    semanticnn_firmware::banner();
    semanticnn_firmware::calibrate();
    // SAFETY: `main` runs once and is the only user of these buffers.
    let (arena, work) = unsafe { (&mut *addr_of_mut!(ARENA), &mut *addr_of_mut!(WORK)) };
    for (i, b) in BENCH.iter().enumerate() {
        let encoder = match Encoder::new(b.model) {
            Ok(e) => e,
            Err(e) => {
                outln!("ERROR bench model {}: {}", i, e);
                board::exit(false)
            }
        };
        let t0 = board::counter::now();
        let done = encoder.forward(b.image, arena, work);
        let t1 = board::counter::now();
        match done {
            Ok(latent) => {
                let mut out = Out::new();
                let _ = core::fmt::Write::write_fmt(
                    &mut out,
                    format_args!("LAYER i={} ticks={} macs={} hex=", i, t1 - t0, b.macs),
                );
                // Two's complement bytes of the int8 output.
                for &v in latent {
                    out.hex(&[v as u8]);
                }
                out.bytes(b"\n");
            }
            Err(e) => {
                outln!("ERROR bench layer {}: {}", i, e);
                board::exit(false)
            }
        }
    }
    outln!("DONE");
    board::exit(true)
}
