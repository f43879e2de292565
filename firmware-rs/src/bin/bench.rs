//! Kernel benchmark: run each baked benchmark model (`SEMANTICNN_BENCH_MODELS`)
//! once and print the counter ticks of its last layer (the layer under test)
//! and of the whole pass, its MACs and its int8 output, which the host checks
//! against its own result.
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
        // Time the last layer alone (the layer under test; earlier layers,
        // if any, only make its inputs) and the whole forward pass.
        let last = b.model.layers.len() - 1;
        let (mut l0, mut l1) = (0, 0);
        let t0 = board::counter::now();
        let done = encoder.forward_each(b.image, arena, work, &mut |i| {
            if i == last {
                l0 = board::counter::now();
            } else if i == last + 1 {
                l1 = board::counter::now();
            }
        });
        let t1 = board::counter::now();
        match done {
            Ok(latent) => {
                let mut out = Out::new();
                let _ = core::fmt::Write::write_fmt(
                    &mut out,
                    format_args!(
                        "LAYER i={} ticks={} total={} macs={} hex=",
                        i,
                        l1 - l0,
                        t1 - t0,
                        b.macs
                    ),
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
