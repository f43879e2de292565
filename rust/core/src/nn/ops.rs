//! Pooling and the element-wise add.

use super::conv::OutQuant;
use super::model::{Add, Shape, Window};
use super::requant::requantize;

/// Average (`max == false`) or max pooling; padded positions are not counted.
pub(crate) fn pool(
    x: &[i8],
    s: Shape,
    win: &Window,
    max: bool,
    out: &mut [i8],
    os: Shape,
    q: OutQuant,
) {
    let [kh, kw] = win.kernel;
    for oy in 0..os.h {
        let y0 = (oy * win.stride[0]) as isize - win.padding[0] as isize;
        let ys = y0.max(0) as usize..((y0 + kh as isize).min(s.h as isize)) as usize;
        for ox in 0..os.w {
            let x0 = (ox * win.stride[1]) as isize - win.padding[1] as isize;
            let xs = x0.max(0) as usize..((x0 + kw as isize).min(s.w as isize)) as usize;
            let n = (ys.len() * xs.len()) as i32;
            for c in 0..s.c {
                let mut acc = if max { i32::MIN } else { 0 };
                for iy in ys.clone() {
                    for ix in xs.clone() {
                        let v = i32::from(x[(iy * s.w + ix) * s.c + c]);
                        acc = if max { acc.max(v) } else { acc + v };
                    }
                }
                if !max {
                    // Round half away from zero (TFLite).
                    acc = if acc >= 0 {
                        (acc + n / 2) / n
                    } else {
                        (acc - n / 2) / n
                    };
                }
                out[(oy * os.w + ox) * os.c + c] = acc.clamp(q.min, q.max) as i8;
            }
        }
    }
}

/// TFLite int8 add of two same-shape tensors.
pub(crate) fn add(a: &[i8], zpa: i32, b: &[i8], zpb: i32, p: &Add, out: &mut [i8], q: OutQuant) {
    let scaled = |v: i8, zp: i32, k: usize| {
        requantize(
            (i32::from(v) - zp) << p.left_shift,
            p.input_multiplier[k],
            p.input_shift[k],
        )
    };
    for ((d, &va), &vb) in out.iter_mut().zip(a).zip(b) {
        let sum = scaled(va, zpa, 0).wrapping_add(scaled(vb, zpb, 1));
        let v = requantize(sum, p.multiplier, p.shift).saturating_add(q.zero_point);
        *d = v.clamp(q.min, q.max) as i8;
    }
}
