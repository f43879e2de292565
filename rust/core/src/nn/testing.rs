//! What the kernels' proptests share: seeded data and a random conv layer
//! whose requantization takes the form a test asks for.

use std::vec::Vec;

use proptest::prelude::*;

use super::conv::{ConvParams, Out, OutQuant, Tensor};
use super::model::{Padding, Shape, Window};

/// A seeded linear congruential generator (Knuth's MMIX constants).
pub(crate) struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> i32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 32) as u32 as i32
    }

    pub fn bytes(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.next() as i8).collect()
    }
}

/// Any output zero point and clamp (`min <= max`).
pub(crate) fn out_quant() -> impl Strategy<Value = OutQuant> {
    (-128i32..=127, -128i32..=127, -128i32..=127).prop_map(|(zero_point, a, b)| OutQuant {
        zero_point,
        min: a.min(b),
        max: a.max(b),
    })
}

/// Zero padding of each side below the kernel (`[kh, kw]`) in its dimension.
pub(crate) fn padding([kh, kw]: [usize; 2]) -> impl Strategy<Value = Padding> {
    (0..kh, 0..kh, 0..kw, 0..kw).prop_map(|(top, bottom, left, right)| Padding {
        top,
        bottom,
        left,
        right,
    })
}

/// The requantization a random layer's channels take.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Requant {
    /// Small biases and shifts `<= -1`: the short form everywhere.
    Short,
    /// Big biases and any shift: the full form.
    Any,
    /// Small biases, shifts in `-2..=0`: the full form where a shift is 0.
    SmallShift,
}

/// The random parts of a test layer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Random {
    pub seed: u64,
    pub zero_point: i32,
    pub requant: Requant,
    pub q: OutQuant,
}

pub(crate) fn random() -> impl Strategy<Value = Random> {
    let requant = prop_oneof![
        Just(Requant::Short),
        Just(Requant::Any),
        Just(Requant::SmallShift)
    ];
    (any::<u64>(), -128i32..=127, requant, out_quant()).prop_map(
        |(seed, zero_point, requant, q)| Random {
            seed,
            zero_point,
            requant,
            q,
        },
    )
}

/// A conv layer with random input, weights and requantization.
pub(crate) struct Layer {
    pub x: Vec<i8>,
    pub weight: Vec<i8>,
    pub bias: Vec<i32>,
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
    pub window: Window,
    pub input: Shape,
    pub output: Shape,
    pub r: Random,
}

impl Layer {
    /// `input` through `window` to `cout` channels of `taps` weights each;
    /// `None` where the window does not fit.
    pub fn new(r: Random, input: Shape, window: Window, cout: usize, taps: usize) -> Option<Self> {
        let (h, w) = window.output_size(input.h, input.w)?;
        let mut g = Lcg::new(r.seed);
        let x = g.bytes(input.h * input.w * input.c);
        let weight = g.bytes(cout * taps);
        let bias = (0..cout)
            .map(|_| match r.requant {
                Requant::Any => g.next().wrapping_mul(2),
                _ => g.next() % 5000,
            })
            .collect();
        let multiplier = (0..cout).map(|_| g.next() & i32::MAX).collect();
        let shift = (0..cout)
            .map(|_| match r.requant {
                Requant::Short => -1 - g.next().rem_euclid(31),
                Requant::Any => g.next().rem_euclid(62) - 31,
                Requant::SmallShift => -(g.next().rem_euclid(3)),
            })
            .collect();
        Some(Self {
            x,
            weight,
            bias,
            multiplier,
            shift,
            window,
            input,
            output: Shape { h, w, c: cout },
            r,
        })
    }

    pub fn params(&self) -> ConvParams<'_> {
        ConvParams {
            window: self.window,
            weight: &self.weight,
            bias: &self.bias,
            multiplier: &self.multiplier,
            shift: &self.shift,
        }
    }

    pub fn tensor(&self) -> Tensor<'_> {
        Tensor {
            data: &self.x,
            shape: self.input,
            zero_point: self.r.zero_point,
        }
    }

    /// A zeroed output buffer.
    pub fn buffer(&self) -> Vec<i8> {
        std::vec![0; self.output.h * self.output.w * self.output.c]
    }

    pub fn out<'o>(&self, data: &'o mut [i8]) -> Out<'o> {
        Out {
            data,
            shape: self.output,
            q: self.r.q,
        }
    }
}
