//! Where the BSC's time goes at low BER, per flip: one xoshiro256++ draw,
//! one geometric gap, one stream jump (one per 64 KiB chunk), and the whole
//! BSC on an in-cache buffer, each timed in a loop (best of 5). The whole
//! BSC per 64-bit word on both sides of the switch-over to masks, on the
//! vector and the scalar path, and where each would have it. Then the
//! Gilbert–Elliott channel at `semanticnn bench channel`'s parameters, per
//! sojourn: its state chain alone, and with the flips.
//!
//! `cargo run --release -p semanticnn-core --example channel_costs`
use std::hint::black_box;
use std::time::Instant;

use rand_core::Rng;
use semanticnn_core::channel::bsc::MASKS_FROM;
use semanticnn_core::channel::rng::{stream, Geometric, Purpose, Streams, CHUNK_BYTES};
use semanticnn_core::channel::{bsc, gilbert_elliott, GilbertElliott};

/// Best of 5 timings of `f`, in ns per one of its `per` items.
fn ns_per(per: usize, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
        / per as f64
        * 1e9
}

fn main() {
    const N: usize = 2_000_000;
    let ber = 1e-3;
    let mut rng = stream(1, Purpose::Flips, 0);
    let draw = ns_per(N, || {
        for _ in 0..N {
            black_box(rng.next_u64());
        }
    });
    let gaps = Geometric::new(ber);
    let gap = ns_per(N, || {
        for _ in 0..N {
            black_box(gaps.sample(&mut rng));
        }
    });
    let mut streams = Streams::new(1, Purpose::Flips, 0);
    let jump = ns_per(10_000, || {
        for _ in 0..10_000 {
            black_box(streams.next_stream());
        }
    });
    let mut buf = vec![0u8; 1 << 20];
    let flips = buf.len() as f64 * 8.0 * ber;
    let whole = ns_per(1, || bsc(&mut buf, ber, 7).expect("a valid BER")) / flips;
    let jumps_per_flip = (buf.len() / CHUNK_BYTES) as f64 / flips;
    println!("BSC at BER {ber} on a 1 MiB buffer (in cache), ns per flip:");
    println!("  whole BSC                {whole:6.2}");
    println!("  geometric gap            {gap:6.2}  (of which the draw {draw:.2})");
    println!(
        "  stream jumps             {:6.2}  ({jump:.0} ns per jump, one per 64 KiB)",
        jump * jumps_per_flip
    );
    println!(
        "  batching, prefetch, flip {:6.2}  (the rest)",
        whole - gap - jump * jumps_per_flip
    );

    println!("Whole BSC on a 1 MiB buffer (in cache), ns per 64-bit word:");
    let per_word = |buf: &mut [u8], ber: f64| {
        let words = (buf.len() / 8) as f64;
        ns_per(1, || bsc(buf, ber, 7).expect("a valid BER")) / words
    };
    let gaps = per_word(&mut buf, MASKS_FROM * (1.0 - 1e-9));
    let masks = per_word(&mut buf, MASKS_FROM);
    let mut one_chunk = vec![0u8; CHUNK_BYTES];
    let scalar = per_word(&mut one_chunk, MASKS_FROM);
    println!("  gaps just below MASKS_FROM  {gaps:6.2}");
    println!("  masks at MASKS_FROM         {masks:6.2}  (eight or four chunks at once where the CPU can)");
    println!(
        "  masks at 0.1                {:6.2}",
        per_word(&mut buf, 0.1)
    );
    println!(
        "  masks at 0.5                {:6.2}  (one draw per word)",
        per_word(&mut buf, 0.5)
    );
    println!("  scalar masks at MASKS_FROM  {scalar:6.2}  (one 64 KiB chunk: every CPU)");
    // Gaps cost in proportion to the BER, masks the same at any BER.
    println!(
        "  masks would win from BER 1/{:.0} on whole chunks here, 1/{:.0} on the scalar path",
        1.0 / (MASKS_FROM * masks / gaps),
        1.0 / (MASKS_FROM * scalar / gaps)
    );

    let ge = GilbertElliott {
        p_gb: 1e-3,
        p_bg: 0.1,
        ber_good: 1e-4,
        ber_bad: 0.1,
    };
    // Two sojourns per cycle of 1/p_gb + 1/p_bg bits on average.
    let sojourns = buf.len() as f64 * 8.0 * 2.0 / (1.0 / ge.p_gb + 1.0 / ge.p_bg);
    let no_flips = GilbertElliott {
        ber_good: 0.0,
        ber_bad: 0.0,
        ..ge
    };
    let chain = ns_per(1, || {
        gilbert_elliott(&mut buf, &no_flips, 7).expect("valid")
    }) / sojourns;
    let ge_whole = ns_per(1, || gilbert_elliott(&mut buf, &ge, 7).expect("valid")) / sojourns;
    println!(
        "Gilbert-Elliott (p_gb 1e-3, p_bg 0.1, BERs 1e-4 / 0.1) on a 1 MiB buffer, ns per sojourn:"
    );
    println!("  state chain alone        {chain:6.2}");
    println!("  with the flips           {ge_whole:6.2}");
}
