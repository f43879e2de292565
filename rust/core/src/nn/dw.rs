//! 3x3 depthwise conv (depth multiplier 1, stride 1 or 2) on i16 planes.
//!
//! Groups of 4 channels are transposed into zero-padded i16 planes (one per
//! channel, the input zero point subtracted, so padding is a plain 0); each
//! output pair of a plane row is then two SMLAD and two SMLAxB per kernel
//! row on ARMv7E-M, with the 9 weights of the channel packed as halfword
//! pairs. Requantization takes the short form ([`super::requant::requantize_short`])
//! where the accumulator provably fits, per channel. Everything else
//! (other kernels, strides, depth multipliers) stays on [`super::conv::depthwise`].

use super::conv::{finish_short, ConvParams, Out, OutQuant, Tensor};
use super::model::{Padding, Shape, Window};

/// Channels per transposition pass.
const G: usize = 4;

/// Largest `|bias|` for which bias plus 9 products of `[-255, 255] x [-128, 127]`
/// stays in `[-2^30, 2^30)` ([`super::requant::requantize_short`]'s range).
const SHORT_BIAS: u32 = (1 << 30) - 1 - 9 * 255 * 128;

/// `(plane row length, plane rows)` where this kernel applies, else `None`.
fn geometry(s: Shape, win: &Window, os: Shape, depth_multiplier: usize) -> Option<(usize, usize)> {
    let st = win.stride[0];
    if win.kernel != [3, 3]
        || depth_multiplier != 1
        || win.stride[1] != st
        || !(1..=2).contains(&st)
    {
        return None;
    }
    let pad = win.padding;
    // Output pairs read up to `st * (even width) + 2` values of a row.
    let pw = (pad.left + s.w + pad.right)
        .max(st * os.w.next_multiple_of(2) + 2)
        .next_multiple_of(2);
    Some((pw, pad.top + s.h + pad.bottom))
}

/// i16 work values [`depthwise3x3`] needs (0 where it does not apply).
pub(crate) fn work_len(s: Shape, win: &Window, os: Shape, depth_multiplier: usize) -> usize {
    geometry(s, win, os, depth_multiplier).map_or(0, |(pw, ph)| G * pw * ph + 2)
}

/// Depthwise conv through planes; `false` (nothing written) where the kernel
/// does not apply or `work` is short.
#[inline(never)]
pub(crate) fn depthwise3x3(
    t: Tensor<'_>,
    p: &ConvParams<'_>,
    depth_multiplier: usize,
    out: Out<'_>,
    work: &mut [i16],
) -> bool {
    let (os, q, out) = (out.shape, out.q, out.data);
    let s = t.shape;
    let Some((pw, ph)) = geometry(s, &p.window, os, depth_multiplier) else {
        return false;
    };
    let plane = pw * ph;
    // Word-aligned planes (LDRD needs it).
    let skip = (work.as_ptr() as usize % 4) / 2;
    let Some(buf) = work.get_mut(skip..skip + G * plane) else {
        return false;
    };
    buf.fill(0);
    let st = p.window.stride[0];
    let c = s.c;
    for c0 in (0..c).step_by(G) {
        let g = G.min(c - c0);
        transpose(t, c0, g, buf, pw, plane, p.window.padding);
        for j in 0..g {
            conv_plane(&buf[j * plane..][..plane], pw, st, p, c0 + j, out, os, q);
        }
    }
    true
}

/// Channels `c0..c0 + g` of the input, minus its zero point, into planes
/// `0..g` of `buf` (the padding stays 0).
fn transpose(
    t: Tensor<'_>,
    c0: usize,
    g: usize,
    buf: &mut [i16],
    pw: usize,
    plane: usize,
    pad: Padding,
) {
    let (x, s) = (t.data, t.shape);
    let zp = t.zero_point as i16;
    for iy in 0..s.h {
        let row = (iy + pad.top) * pw + pad.left;
        let src = iy * s.w * s.c + c0;
        let mut ix = 0;
        #[cfg(target_arch = "arm")]
        if g == G {
            ix = arm::transpose4(x, src, s.c, s.w, zp, buf, row, plane);
        }
        while ix < s.w {
            for j in 0..g {
                buf[j * plane + row + ix] = i16::from(x[src + ix * s.c + j]) - zp;
            }
            ix += 1;
        }
    }
}

/// One channel's plane through its 3x3 kernel into `out`'s channel `c`.
#[allow(clippy::too_many_arguments)]
fn conv_plane(
    pl: &[i16],
    pw: usize,
    st: usize,
    p: &ConvParams<'_>,
    c: usize,
    out: &mut [i8],
    os: Shape,
    q: OutQuant,
) {
    let cout = os.c;
    let k: [i16; 9] = core::array::from_fn(|i| i16::from(p.weight[i * cout + c]));
    // Halfword pairs: (k0, k1), (k2, 0) per kernel row.
    let pair = |a: i16, b: i16| i32::from(a as u16) | (i32::from(b) << 16);
    let kw: [i32; 6] = [
        pair(k[0], k[1]),
        i32::from(k[2]),
        pair(k[3], k[4]),
        i32::from(k[5]),
        pair(k[6], k[7]),
        i32::from(k[8]),
    ];
    let (bias, m, shift) = (p.bias[c], p.multiplier[c], p.shift[c]);
    if shift <= -1 && bias.unsigned_abs() <= SHORT_BIAS {
        let r = (m, shift);
        for oy in 0..os.h {
            let row = &pl[oy * st * pw..];
            let o = &mut out[oy * os.w * cout + c..];
            if st == 1 {
                row_short::<1>(row, pw, &kw, bias, r, q, o, cout, os.w);
            } else {
                row_short::<2>(row, pw, &kw, bias, r, q, o, cout, os.w);
            }
        }
        return;
    }
    for oy in 0..os.h {
        let row = &pl[oy * st * pw..];
        let o = &mut out[oy * os.w * cout + c..];
        let mut ox = 0;
        while ox < os.w {
            let [a0, a1] = pair3x3(&row[ox * st..], pw, st, &kw, 0);
            o[ox * cout] = p.finish(a0, c, q);
            if ox + 1 < os.w {
                o[(ox + 1) * cout] = p.finish(a1, c, q);
            }
            ox += 2;
        }
    }
}

/// One output row of one channel with the short requantization: `ow`
/// outputs `cout` apart in `o`, from the plane rows at `row`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn row_short<const ST: usize>(
    row: &[i16],
    pw: usize,
    kw: &[i32; 6],
    bias: i32,
    (m, shift): (i32, i32),
    q: OutQuant,
    o: &mut [i8],
    cout: usize,
    ow: usize,
) {
    let finish = |acc: i32| finish_short(acc, m, shift, q);
    let mut ox = 0;
    while ox + 2 <= ow {
        let [a0, a1] = pair3x3(&row[ox * ST..], pw, ST, kw, bias);
        o[ox * cout] = finish(a0);
        o[(ox + 1) * cout] = finish(a1);
        ox += 2;
    }
    if ox < ow {
        let [a0, _] = pair3x3(&row[ox * ST..], pw, ST, kw, bias);
        o[ox * cout] = finish(a0);
    }
}

/// The accumulators of two neighbouring outputs (`init` plus the 3x3 window
/// at `r[0]` and at `r[st]`, rows `pw` apart); `r` holds `2 * pw + 2 * st + 2`
/// values, word-aligned.
#[inline(always)]
fn pair3x3(r: &[i16], pw: usize, st: usize, kw: &[i32; 6], init: i32) -> [i32; 2] {
    #[cfg(target_arch = "arm")]
    {
        arm::pair3x3(r, pw, st, kw, init)
    }
    #[cfg(not(target_arch = "arm"))]
    {
        portable_pair3x3(r, pw, st, kw, init)
    }
}

/// The scalar form of [`pair3x3`] (what the SMLAD form computes).
#[cfg_attr(target_arch = "arm", allow(dead_code))]
fn portable_pair3x3(r: &[i16], pw: usize, st: usize, kw: &[i32; 6], init: i32) -> [i32; 2] {
    let mut acc = [init; 2];
    for (j, a) in acc.iter_mut().enumerate() {
        for ky in 0..3 {
            let (k01, k2) = (kw[2 * ky], kw[2 * ky + 1]);
            let ks = [k01 as i16, (k01 >> 16) as i16, k2 as i16];
            for (kx, &kv) in ks.iter().enumerate() {
                let v = i32::from(r[ky * pw + j * st + kx]);
                *a = a.wrapping_add(v * i32::from(kv));
            }
        }
    }
    acc
}

#[cfg(target_arch = "arm")]
mod arm {
    use crate::nn::asm::dsp_asm;
    /// Pixels `0..2n` (`2n <= w`) of one input row, 4 channels from `src`,
    /// into planes `0..4` at `row`; returns `2n`.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub fn transpose4(
        x: &[i8],
        src: usize,
        c: usize,
        w: usize,
        zp: i16,
        buf: &mut [i16],
        row: usize,
        plane: usize,
    ) -> usize {
        let pairs = w / 2;
        if pairs == 0 {
            return 0;
        }
        assert!(
            src + (2 * pairs - 1) * c + 4 <= x.len() && 3 * plane + row + 2 * pairs <= buf.len()
        );
        let nzp = u32::from((-zp) as u16) * 0x1_0001;
        // SAFETY: the assert above bounds every word read (4 bytes at
        // pixel `ix` and `ix + 1`) and written (2 halfwords at `ix` of each
        // plane), `pairs > 0` times; unaligned LDR/STR are allowed on ARMv7E-M.
        unsafe {
            dsp_asm!(
                [
                    "2:",
                    "ldr {v0}, [{s}]",
                    "ldr {v1}, [{s}, {cb}]",
                    "sxtab16 {a}, {nzp}, {v0}",
                    "sxtab16 {b}, {nzp}, {v0}, ror #8",
                    "sxtab16 {v0}, {nzp}, {v1}",
                    "sxtab16 {v1}, {nzp}, {v1}, ror #8",
                    "pkhbt {t}, {a}, {v0}, lsl #16",
                    "str {t}, [{d}]",
                    "pkhtb {a}, {v0}, {a}, asr #16",
                    "str {a}, [{d2}]",
                    "pkhbt {t}, {b}, {v1}, lsl #16",
                    "str {t}, [{d}, {ps}]",
                    "pkhtb {b}, {v1}, {b}, asr #16",
                    "str {b}, [{d2}, {ps}]",
                    "add {s}, {s}, {cb}, lsl #1",
                    "add {d}, {d}, #4",
                    "add {d2}, {d2}, #4",
                    "subs {n}, {n}, #1",
                    "bne 2b",
                ],
                [
                    cb = in(reg) c,
                    ps = in(reg) 2 * plane,
                    nzp = in(reg) nzp,
                    s = inout(reg) x[src..].as_ptr() => _,
                    d = inout(reg) buf[row..].as_mut_ptr() => _,
                    d2 = inout(reg) buf[2 * plane + row..].as_mut_ptr() => _,
                    n = inout(reg) pairs => _,
                ],
                scratch(v0, v1, a, b, t),
            );
        }
        2 * pairs
    }

    #[inline(always)]
    pub fn pair3x3(r: &[i16], pw: usize, st: usize, kw: &[i32; 6], init: i32) -> [i32; 2] {
        assert!(r.len() >= 2 * pw + 2 * st + 2);
        let [mut s0, mut s1] = [init; 2];
        let k = kw.as_ptr();
        // One kernel row of both outputs: `{a}, {b}, {c}` hold the row's
        // values from `{p}` (`{c}` from byte `$c` on), `{ka}, {kb}` its
        // weights from byte `$k` of `kw`; `$s1` is the second output's MACs.
        macro_rules! row {
            ($k:literal, $c:literal, $s1:literal) => {
                concat!(
                    "ldrd {a}, {b}, [{p}]\n",
                    "ldr {c}, [{p}, #",
                    $c,
                    "]\n",
                    "ldrd {ka}, {kb}, [{k}, #",
                    $k,
                    "]\n",
                    "smlad {s0}, {a}, {ka}, {s0}\n",
                    "smlabb {s0}, {b}, {kb}, {s0}\n",
                    $s1,
                )
            };
        }
        macro_rules! pair {
            ($c:literal, $s1:literal) => {
                dsp_asm!(
                    [
                        row!("0", $c, $s1),
                        "add {p}, {p}, {pwb}",
                        row!("8", $c, $s1),
                        "add {p}, {p}, {pwb}",
                        row!("16", $c, $s1),
                    ],
                    [
                        p = inout(reg) r.as_ptr() => _,
                        pwb = in(reg) 2 * pw,
                        k = in(reg) k,
                        s0 = inout(reg) s0,
                        s1 = inout(reg) s1,
                    ],
                    scratch(a, b, c, ka, kb), readonly,
                )
            };
        }
        // SAFETY: reads 3 rows `pw` apart of `st + 4` values from the start
        // of `r` (bounded by the assert) and the 6 words of `kw`; `r` and
        // `kw` are word-aligned (LDRD).
        unsafe {
            if st == 1 {
                // Second window one value on: (x1 x2) from byte 2, x3 on top of `{b}`.
                pair!(
                    "2",
                    "smlad {s1}, {c}, {ka}, {s1}\nsmlatb {s1}, {b}, {kb}, {s1}\n"
                );
            } else {
                // Two values on: (x2 x3) is `{b}`, x4 at byte 8.
                pair!(
                    "8",
                    "smlad {s1}, {b}, {ka}, {s1}\nsmlabb {s1}, {c}, {kb}, {s1}\n"
                );
            }
        }
        [s0, s1]
    }
}

#[cfg(test)]
mod tests {
    use super::super::conv;
    use super::super::testing::{padding, random, Layer};
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// The plane kernel gives the scalar depthwise conv's int8 output
        /// exactly, for both requantization forms (short where the bias is
        /// small and the shift negative, full otherwise), with any padding
        /// on each side.
        #[test]
        fn depthwise3x3_matches_scalar(
            (h, w, c) in (1usize..10, 1usize..10, 1usize..11),
            stride in 1usize..=2,
            padding in padding([3, 3]),
            r in random(),
            odd_work in any::<bool>(),
        ) {
            let window = Window { kernel: [3, 3], stride: [stride; 2], padding };
            let l = Layer::new(r, Shape { h, w, c }, window, c, 9);
            let Some(l) = l else { return Err(TestCaseError::reject("window")) };
            let (t, p) = (l.tensor(), l.params());
            let mut want = l.buffer();
            conv::depthwise(t, &p, 1, l.out(&mut want));
            let extra = usize::from(odd_work);
            let mut work = std::vec![7i16; work_len(l.input, &window, l.output, 1) + extra];
            let mut got = l.buffer();
            prop_assert!(depthwise3x3(t, &p, 1, l.out(&mut got), &mut work[extra..]));
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn other_geometries_are_left_to_the_scalar_kernel() {
        let s = Shape { h: 5, w: 5, c: 2 };
        let win = |k, st| Window {
            kernel: [k, k],
            stride: [st; 2],
            padding: Padding::symmetric(1, 1),
        };
        assert_eq!(work_len(s, &win(3, 3), Shape { h: 2, w: 2, c: 2 }, 1), 0);
        assert_eq!(work_len(s, &win(2, 1), Shape { h: 6, w: 6, c: 2 }, 1), 0);
        assert_eq!(work_len(s, &win(3, 1), Shape { h: 5, w: 5, c: 4 }, 2), 0);
        assert!(work_len(s, &win(3, 1), Shape { h: 5, w: 5, c: 2 }, 1) > 0);
    }
}
