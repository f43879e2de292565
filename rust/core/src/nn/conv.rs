//! conv2d (im2col of two output pixels + [`mac::dot_2x2`]) and depthwise conv.

use super::mac;
use super::model::{Shape, Window};
use super::requant::requantize;

/// Per-output-channel parameters of a conv layer, resolved from the pools.
pub(crate) struct ConvParams<'a> {
    pub window: Window,
    pub weight: &'a [i8],
    pub bias: &'a [i32],
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
}

/// An input tensor: int8 NHWC data, its shape and zero point.
#[derive(Clone, Copy)]
pub(crate) struct Tensor<'x> {
    pub data: &'x [i8],
    pub shape: Shape,
    pub zero_point: i32,
}

/// Output zero point and clamp of a layer.
#[derive(Clone, Copy)]
pub(crate) struct OutQuant {
    pub zero_point: i32,
    pub min: i32,
    pub max: i32,
}

impl ConvParams<'_> {
    #[inline]
    fn finish(&self, acc: i32, o: usize, q: OutQuant) -> i8 {
        let v = requantize(
            acc.wrapping_add(self.bias[o]),
            self.multiplier[o],
            self.shift[o],
        );
        v.saturating_add(q.zero_point).clamp(q.min, q.max) as i8
    }
}

/// i16 scratch that conv2d needs: widened weights plus two im2col rows.
pub(crate) fn conv2d_work_len(window: &Window, cin: usize, cout: usize) -> usize {
    mac::max_padded(window.kernel[0] * window.kernel[1] * cin) * (cout + 2)
}

/// Writes the im2col row of output pixel `p` (row-major over `out`): the
/// `kh*kw*cin` window values minus the zero point, 0 where padded.
fn im2col(x: &[i8], s: Shape, zp: i32, win: &Window, out_w: usize, p: usize, row: &mut [i16]) {
    let (oy, ox) = (p / out_w, p % out_w);
    let [kh, kw] = win.kernel;
    let span = kw * s.c;
    for ky in 0..kh {
        let seg = &mut row[ky * span..(ky + 1) * span];
        let iy = (oy * win.stride[0] + ky).wrapping_sub(win.padding[0]);
        let x0 = (ox * win.stride[1]).wrapping_sub(win.padding[1]);
        if iy >= s.h {
            seg.fill(0);
        } else if x0 < s.w && x0 + kw <= s.w {
            // The whole kernel row is inside: one contiguous run of the input.
            let start = (iy * s.w + x0) * s.c;
            for (d, &v) in seg.iter_mut().zip(&x[start..start + span]) {
                *d = (i32::from(v) - zp) as i16;
            }
        } else {
            for kx in 0..kw {
                let d = &mut seg[kx * s.c..(kx + 1) * s.c];
                let ix = (ox * win.stride[1] + kx).wrapping_sub(win.padding[1]);
                if ix >= s.w {
                    d.fill(0);
                } else {
                    let start = (iy * s.w + ix) * s.c;
                    for (d, &v) in d.iter_mut().zip(&x[start..start + s.c]) {
                        *d = (i32::from(v) - zp) as i16;
                    }
                }
            }
        }
    }
}

/// conv2d over NHWC int8; `work` holds at least [`conv2d_work_len`] values.
pub(crate) fn conv2d(
    t: Tensor<'_>,
    p: &ConvParams<'_>,
    out: &mut [i8],
    os: Shape,
    q: OutQuant,
    work: &mut [i16],
) {
    let (x, s, zp) = (t.data, t.shape, t.zero_point);
    let k = p.window.kernel[0] * p.window.kernel[1] * s.c;
    // Rows of `kp` values, zero-padded past `k` (see `mac::padded`).
    let kp = mac::padded(k);
    let cout = os.c;
    let (wide, rest) = work.split_at_mut(cout * kp);
    for (d, w) in wide.chunks_exact_mut(kp).zip(p.weight.chunks_exact(k)) {
        for (d, &v) in d.iter_mut().zip(w) {
            *d = i16::from(v);
        }
        d[k..].fill(0);
    }
    let (col0, rest) = rest.split_at_mut(kp);
    let col1 = &mut rest[..kp];
    col0[k..].fill(0);
    col1[k..].fill(0);
    let pixels = os.h * os.w;
    let out = &mut out[..pixels * cout];
    let mut px = 0;
    while px < pixels {
        // Two output pixels at a time; an odd last pixel is paired with itself
        // (its second row of results is computed and dropped).
        let px1 = (px + 1).min(pixels - 1);
        im2col(x, s, zp, &p.window, os.w, px, col0);
        im2col(x, s, zp, &p.window, os.w, px1, col1);
        let (r0, rest) = out[px * cout..].split_at_mut(cout);
        let n1 = cout.min(rest.len());
        let r1 = &mut rest[..n1];
        let mut o = 0;
        while o < cout {
            let o1 = (o + 1).min(cout - 1);
            let w0 = &wide[o * kp..][..kp];
            let w1 = &wide[o1 * kp..][..kp];
            let [s00, s01, s10, s11] = mac::dot_2x2(col0, col1, w0, w1);
            r0[o] = p.finish(s00, o, q);
            r0[o1] = p.finish(s01, o1, q);
            if n1 != 0 {
                r1[o] = p.finish(s10, o, q);
                r1[o1] = p.finish(s11, o1, q);
            }
            o += 2;
        }
        px += 2;
    }
}

/// Depthwise conv: output channel `o` reads input channel `o / depth_multiplier`.
pub(crate) fn depthwise(
    t: Tensor<'_>,
    p: &ConvParams<'_>,
    depth_multiplier: usize,
    out: &mut [i8],
    os: Shape,
    q: OutQuant,
) {
    let (x, s, zp) = (t.data, t.shape, t.zero_point);
    let [kh, kw] = p.window.kernel;
    let cout = os.c;
    for oy in 0..os.h {
        for ox in 0..os.w {
            let o_px = &mut out[(oy * os.w + ox) * cout..][..cout];
            for (o, d) in o_px.iter_mut().enumerate() {
                let c = o / depth_multiplier;
                let mut acc = 0i32;
                for ky in 0..kh {
                    let iy = (oy * p.window.stride[0] + ky).wrapping_sub(p.window.padding[0]);
                    if iy >= s.h {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = (ox * p.window.stride[1] + kx).wrapping_sub(p.window.padding[1]);
                        if ix >= s.w {
                            continue;
                        }
                        let v = i32::from(x[(iy * s.w + ix) * s.c + c]) - zp;
                        acc = acc.wrapping_add(v * i32::from(p.weight[(ky * kw + kx) * cout + o]));
                    }
                }
                *d = p.finish(acc, o, q);
            }
        }
    }
}
