//! 1x1 (pointwise) conv2d without im2col: the NHWC input pixel is already
//! the column. Per pass, two pixels times two output channels (4
//! accumulators): the pixels' channels, minus the input zero point, and the
//! layer's weights are widened once into i16 words laid out so that one
//! `LDRD` of activations, one `LDRD` of weights and 4 `SMLAD`s do 8 MACs on
//! ARMv7E-M. Requantization takes the short form
//! ([`super::requant::requantize_short`]) on channels where the accumulator provably
//! fits. The firmware uses it (on the host the SSE2/AVX2 im2col kernels are
//! faster); the portable twin is proptested against [`super::conv::conv2d`].
//!
//! Layout: channels go in groups of 4, each group as 8 halfwords per pair
//! of pixels (or output channels) `j = 0, 1`: channel `c` of the group at
//! `(c % 2) * 4 + j * 2 + c / 2`, i.e. `[c0 c2] [c0' c2'] [c1 c3] [c1' c3']`
//! (SXTB16 of a word of 4 int8 gives channels 0 and 2, of the word rotated
//! by 8 channels 1 and 3). Padded channels are 0.

use super::conv::{finish_full, finish_short, ConvParams, Out, OutQuant, Tensor};
use super::model::Window;

/// Channels per group.
const G: usize = 4;

/// i16 work values [`pointwise`] needs (0 where it does not apply).
pub(crate) fn work_len(window: &Window, cin: usize, cout: usize) -> usize {
    if window.kernel != [1, 1] {
        return 0;
    }
    let kp = cin.next_multiple_of(G);
    // Weights of every output pair, one pixel pair, and 2 for alignment.
    cout.next_multiple_of(2) * kp + 2 * kp + 2
}

/// Halfword index of channel `c` of item `j` (0, 1) in the layout above.
#[inline(always)]
fn slot(c: usize, j: usize) -> usize {
    let (g, r) = (c / G, c % G);
    g * 2 * G + (r % 2) * 4 + j * 2 + r / 2
}

/// 1x1 conv2d; `false` (nothing written) where the kernel is not 1x1, the
/// output has a single pixel or `work` is short.
pub(crate) fn pointwise(t: Tensor<'_>, p: &ConvParams<'_>, out: Out<'_>, work: &mut [i16]) -> bool {
    let (os, q, out) = (out.shape, out.q, out.data);
    let (x, s, zp) = (t.data, t.shape, t.zero_point);
    let pixels = os.h * os.w;
    if p.window.kernel != [1, 1] || pixels < 2 {
        return false;
    }
    let (cin, cout) = (s.c, os.c);
    let kp = cin.next_multiple_of(G);
    let pairs = cout.div_ceil(2);
    // Word-aligned (LDRD needs it).
    let skip = (work.as_ptr() as usize % 4) / 2;
    let Some(buf) = work.get_mut(skip..skip + pairs * 2 * kp + 2 * kp) else {
        return false;
    };
    let (wbuf, abuf) = buf.split_at_mut(pairs * 2 * kp);
    for (j, d) in wbuf.chunks_exact_mut(2 * kp).enumerate() {
        let (o0, o1) = (2 * j, (2 * j + 1).min(cout - 1));
        pack_pair(
            &p.weight[o0 * cin..][..cin],
            &p.weight[o1 * cin..][..cin],
            0,
            d,
        );
    }
    let short = p.short(kp, cout);
    let [sy, sx] = p.window.stride;
    let at = |px: usize| ((px / os.w) * sy * s.w + (px % os.w) * sx) * cin;
    let mut px = 0;
    while px < pixels {
        // Pairs of neighbouring pixels; an odd last pixel is paired with the
        // one before it (whose outputs are written again, unchanged).
        px = px.min(pixels - 2);
        pack_pair(&x[at(px)..][..cin], &x[at(px + 1)..][..cin], zp, abuf);
        let (r0, r1) = out[px * cout..][..2 * cout].split_at_mut(cout);
        if short {
            pixel_pair::<true>(abuf, wbuf, p, q, r0, r1);
        } else {
            pixel_pair::<false>(abuf, wbuf, p, q, r0, r1);
        }
        px += 2;
    }
    true
}

/// The outputs of one packed pixel pair `a` into `r0` and `r1`, every
/// channel in the short form ([`ConvParams::short`]) where `SHORT`, else in
/// the full one.
#[inline(never)]
fn pixel_pair<const SHORT: bool>(
    a: &[i16],
    wbuf: &[i16],
    p: &ConvParams<'_>,
    q: OutQuant,
    r0: &mut [i8],
    r1: &mut [i8],
) {
    let finish = |acc: i32, m: i32, shift: i32| {
        if SHORT {
            finish_short(acc, m, shift, q)
        } else {
            finish_full(acc, m, shift, q)
        }
    };
    let per = a.len();
    let ws = wbuf.chunks_exact(per);
    let consts = p.bias.chunks_exact(2).zip(p.multiplier.chunks_exact(2));
    let outs = r0.chunks_exact_mut(2).zip(r1.chunks_exact_mut(2));
    for (((w, sh), (b, m)), (o0, o1)) in ws.zip(p.shift.chunks_exact(2)).zip(consts).zip(outs) {
        let [s00, s01, s10, s11] = dot_2x2(a, w, [b[0], b[1], b[0], b[1]]);
        o0[0] = finish(s00, m[0], sh[0]);
        o0[1] = finish(s01, m[1], sh[1]);
        o1[0] = finish(s10, m[0], sh[0]);
        o1[1] = finish(s11, m[1], sh[1]);
    }
    let cout = r0.len();
    if cout % 2 == 1 {
        let o = cout - 1;
        let w = &wbuf[o / 2 * per..][..per];
        let [s0, _, s1, _] = dot_2x2(a, w, [p.bias[o]; 4]);
        r0[o] = finish(s0, p.multiplier[o], p.shift[o]);
        r1[o] = finish(s1, p.multiplier[o], p.shift[o]);
    }
}

/// Two rows of `cin` int8 values (pixels, or the weights of two output
/// channels), minus `zp`, into the layout above (`2 * kp` values).
fn pack_pair(a: &[i8], b: &[i8], zp: i32, d: &mut [i16]) {
    let cin = a.len();
    // The Cortex-M packs what it can two lanes at a time; the loop below
    // finishes (or, elsewhere, does) the rest.
    #[cfg(target_arch = "arm")]
    let mut c = arm::pack_pair(a, b, zp, d);
    #[cfg(not(target_arch = "arm"))]
    let mut c = 0;
    d[c / G * 2 * G..].fill(0);
    while c < cin {
        d[slot(c, 0)] = (i32::from(a[c]) - zp) as i16;
        d[slot(c, 1)] = (i32::from(b[c]) - zp) as i16;
        c += 1;
    }
}

/// `init` plus `[a0·w0, a0·w1, a1·w0, a1·w1]` of a packed pixel pair `a`
/// and output pair `w` (equal lengths, a multiple of 8, word-aligned).
#[inline(always)]
fn dot_2x2(a: &[i16], w: &[i16], init: [i32; 4]) -> [i32; 4] {
    #[cfg(target_arch = "arm")]
    {
        arm::dot_2x2(a, w, init)
    }
    #[cfg(not(target_arch = "arm"))]
    {
        portable_dot_2x2(a, w, init)
    }
}

/// The scalar form of [`dot_2x2`].
#[cfg_attr(target_arch = "arm", allow(dead_code))]
fn portable_dot_2x2(a: &[i16], w: &[i16], init: [i32; 4]) -> [i32; 4] {
    let mut acc = init;
    for (a, w) in a.chunks_exact(4).zip(w.chunks_exact(4)) {
        for (i, s) in acc.iter_mut().enumerate() {
            let (x, v) = (&a[(i / 2) * 2..][..2], &w[(i % 2) * 2..][..2]);
            let d = i32::from(x[0]) * i32::from(v[0]) + i32::from(x[1]) * i32::from(v[1]);
            *s = s.wrapping_add(d);
        }
    }
    acc
}

#[cfg(target_arch = "arm")]
mod arm {
    use super::G;
    use crate::nn::asm::dsp_asm;

    /// Values `0..4n` (`4n <= a.len()`) of two rows, minus `zp`, into
    /// `abuf`; returns `4n`.
    #[inline]
    pub fn pack_pair(a: &[i8], b: &[i8], zp: i32, abuf: &mut [i16]) -> usize {
        let groups = a.len().min(b.len()) / G;
        if groups == 0 {
            return 0;
        }
        assert!(abuf.len() >= groups * 2 * G && abuf.as_ptr() as usize % 4 == 0);
        let nzp = u32::from((-zp) as u16) * 0x1_0001;
        // SAFETY: reads `4 * groups` bytes of `a` and `b` (unaligned word
        // loads are allowed on ARMv7E-M) and writes `8 * groups` halfwords of
        // `abuf` (word-aligned, STRD), all bounded by the assert above.
        unsafe {
            dsp_asm!(
                [
                    "2:",
                    "ldr {u}, [{pa}], #4",
                    "ldr {v}, [{pb}], #4",
                    "sxtab16 {t0}, {nzp}, {u}",
                    "sxtab16 {t1}, {nzp}, {v}",
                    "strd {t0}, {t1}, [{d}], #8",
                    "sxtab16 {t0}, {nzp}, {u}, ror #8",
                    "sxtab16 {t1}, {nzp}, {v}, ror #8",
                    "strd {t0}, {t1}, [{d}], #8",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                ],
                [
                    pa = inout(reg) a.as_ptr() => _,
                    pb = inout(reg) b.as_ptr() => _,
                    d = inout(reg) abuf.as_mut_ptr() => _,
                    n = inout(reg) groups => _,
                    nzp = in(reg) nzp,
                ],
                scratch(u, v, t0, t1),
            );
        }
        groups * G
    }

    #[inline(always)]
    pub fn dot_2x2(a: &[i16], w: &[i16], init: [i32; 4]) -> [i32; 4] {
        let n = a.len();
        assert!(w.len() == n && n % (2 * G) == 0 && n > 0);
        let [mut s00, mut s01, mut s10, mut s11] = init;
        // SAFETY: reads the `n` halfwords of `a` and of `w` (equal, a
        // multiple of 8, > 0 by the assert; word-aligned for LDRD by the
        // caller's layout), 16 bytes of each per step.
        // 2 values of both pixels by 2 of both output channels: 8 MACs.
        macro_rules! step {
            () => {
                concat!(
                    "ldrd {x0}, {x1}, [{pa}], #8\n",
                    "ldrd {v0}, {v1}, [{pw}], #8\n",
                    "smlad {s00}, {x0}, {v0}, {s00}\n",
                    "smlad {s01}, {x0}, {v1}, {s01}\n",
                    "smlad {s10}, {x1}, {v0}, {s10}\n",
                    "smlad {s11}, {x1}, {v1}, {s11}\n",
                )
            };
        }
        unsafe {
            let end = a.as_ptr().add(n);
            dsp_asm!(
                [
                    "2:",
                    step!(),
                    step!(),
                    "cmp {pa}, {end}",
                    "bne 2b",
                ],
                [
                    pa = inout(reg) a.as_ptr() => _,
                    pw = inout(reg) w.as_ptr() => _,
                    end = in(reg) end,
                    s00 = inout(reg) s00,
                    s01 = inout(reg) s01,
                    s10 = inout(reg) s10,
                    s11 = inout(reg) s11,
                ],
                scratch(x0, x1, v0, v1), readonly,
            );
        }
        [s00, s01, s10, s11]
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv;
    use super::super::model::{Padding, Shape};
    use super::super::testing::{random, Layer};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The 1x1 kernel gives the im2col conv2d's int8 output exactly, for
        /// both requantization forms.
        #[test]
        fn pointwise_matches_conv2d(
            (h, w, cin, cout) in (1usize..7, 1usize..7, 1usize..20, 1usize..9),
            stride in (1usize..=2, 1usize..=2),
            r in random(),
            odd_work in any::<bool>(),
        ) {
            let window = Window { kernel: [1, 1], stride: [stride.0, stride.1], padding: Padding::ZERO };
            let l = Layer::new(r, Shape { h, w, c: cin }, window, cout, cin).expect("fits");
            let (t, p) = (l.tensor(), l.params());
            let mut want = l.buffer();
            let mut work = std::vec![0i16; conv::conv2d_work_len(&window, cin, cout)];
            conv::conv2d(t, &p, l.out(&mut want), &mut work);
            let extra = usize::from(odd_work);
            let mut work = std::vec![7i16; work_len(&window, cin, cout) + extra];
            let mut got = l.buffer();
            let pixels = l.output.h * l.output.w;
            prop_assert_eq!(pointwise(t, &p, l.out(&mut got), &mut work[extra..]), pixels > 1);
            if pixels > 1 {
                prop_assert_eq!(got, want);
            }
        }
    }

    #[test]
    fn other_kernels_are_left_to_im2col() {
        let win = |k| Window {
            kernel: [k, k],
            stride: [1; 2],
            padding: Padding::ZERO,
        };
        assert_eq!(work_len(&win(3), 4, 4), 0);
        assert_eq!(work_len(&win(1), 5, 3), 4 * 8 + 2 * 8 + 2);
    }
}
