//! Loading a `semanticnn-int8` safetensors file (host only, `std` feature).
//! Every shape, dtype and range is checked; a bad file is a [`LoadError`].

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use super::model::{
    Add, Conv, Head, Layer, Model, ModelError, Op, Shape, Span, Window, MAX_ELEMENTS, MAX_LAYERS,
};
use super::plan::{Encoder, Kernel, Packed, RunError};

pub const FORMAT: &str = "semanticnn-int8";
pub const FORMAT_VERSION: &str = "1";

#[derive(Debug)]
pub enum LoadError {
    Io(std::io::Error),
    /// Not a readable safetensors file (truncated, bad header, bad offsets).
    Safetensors(String),
    /// Missing or wrong `format` / `format_version` metadata.
    Format(String),
    /// The JSON graph is malformed: `(where, what)`.
    Graph(String, String),
    /// A tensor is missing, extra, or has the wrong dtype or shape.
    Tensor {
        name: String,
        reason: String,
    },
    /// The graph and tensors parse but break a rule of the format.
    Model(ModelError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read the model file: {e}"),
            Self::Safetensors(e) => write!(f, "not a valid safetensors file: {e}"),
            Self::Format(e) => write!(f, "not a {FORMAT} v{FORMAT_VERSION} model: {e}"),
            Self::Graph(at, e) => write!(f, "graph {at}: {e}"),
            Self::Tensor { name, reason } => write!(f, "tensor {name}: {reason}"),
            Self::Model(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<ModelError> for LoadError {
    fn from(e: ModelError) -> Self {
        Self::Model(e)
    }
}

/// A loaded model that owns its parameter pools and lends a [`Model`] view.
/// It also holds its conv2d weights packed for the fastest [`Kernel`] of this
/// CPU, made once when it loads.
#[derive(Clone, Debug)]
pub struct OwnedModel {
    input: Shape,
    input_zero_point: i32,
    layers: Vec<Layer>,
    weights: Vec<i8>,
    params: Vec<i32>,
    head: Head,
    packed: Option<Packed>,
}

fn graph_err(at: &str, what: impl ToString) -> LoadError {
    LoadError::Graph(at.to_string(), what.to_string())
}

fn field<'v>(v: &'v Value, key: &str, at: &str) -> Result<&'v Value, LoadError> {
    v.get(key)
        .ok_or_else(|| graph_err(at, format_args!("missing key {key:?}")))
}

fn int(v: &Value, key: &str, at: &str) -> Result<i32, LoadError> {
    field(v, key, at)?
        .as_i64()
        .and_then(|x| i32::try_from(x).ok())
        .ok_or_else(|| graph_err(at, format_args!("{key:?} must be a 32-bit integer")))
}

fn ints<const N: usize>(v: &Value, key: &str, at: &str) -> Result<[i64; N], LoadError> {
    let bad = || graph_err(at, format_args!("{key:?} must be a list of {N} integers"));
    let arr = field(v, key, at)?.as_array().ok_or_else(bad)?;
    if arr.len() != N {
        return Err(bad());
    }
    let mut out = [0i64; N];
    for (o, x) in out.iter_mut().zip(arr) {
        *o = x.as_i64().ok_or_else(bad)?;
    }
    Ok(out)
}

fn dims<const N: usize>(v: &Value, key: &str, at: &str) -> Result<[usize; N], LoadError> {
    let raw = ints::<N>(v, key, at)?;
    let mut out = [0usize; N];
    for (o, &x) in out.iter_mut().zip(&raw) {
        *o = usize::try_from(x)
            .ok()
            .filter(|&d| d <= MAX_ELEMENTS)
            .ok_or_else(|| {
                graph_err(
                    at,
                    format_args!("{key:?} has a negative or absurd value {x}"),
                )
            })?;
    }
    Ok(out)
}

fn shape(v: &Value, at: &str) -> Result<Shape, LoadError> {
    let [h, w, c] = dims::<3>(v, "shape", at)?;
    Ok(Shape { h, w, c })
}

fn window(v: &Value, at: &str) -> Result<Window, LoadError> {
    Ok(Window {
        kernel: dims(v, "kernel", at)?,
        stride: dims(v, "stride", at)?,
        padding: dims(v, "padding", at)?,
    })
}

fn i32s(v: [i64; 2], at: &str, key: &str) -> Result<[i32; 2], LoadError> {
    let one = |x: i64| {
        i32::try_from(x)
            .map_err(|_| graph_err(at, format_args!("{key:?} must hold 32-bit integers")))
    };
    Ok([one(v[0])?, one(v[1])?])
}

struct Tensors<'b> {
    st: SafeTensors<'b>,
    used: BTreeSet<String>,
}

impl Tensors<'_> {
    fn get(&mut self, name: &str, dtype: Dtype, want: &[usize]) -> Result<&[u8], LoadError> {
        let bad = |reason: String| LoadError::Tensor {
            name: name.to_string(),
            reason,
        };
        let t = self
            .st
            .tensor(name)
            .map_err(|_| bad("missing".to_string()))?;
        if t.dtype() != dtype {
            return Err(bad(format!("dtype {:?}, expected {dtype:?}", t.dtype())));
        }
        if t.shape() != want {
            return Err(bad(format!("shape {:?}, expected {want:?}", t.shape())));
        }
        self.used.insert(name.to_string());
        Ok(t.data())
    }

    fn i8s(&mut self, name: &str, want: &[usize], pool: &mut Vec<i8>) -> Result<Span, LoadError> {
        let data = self.get(name, Dtype::I8, want)?;
        let start = pool.len();
        pool.extend(data.iter().map(|&b| b as i8));
        Ok(Span {
            start,
            len: data.len(),
        })
    }

    fn i32s(&mut self, name: &str, want: &[usize], pool: &mut Vec<i32>) -> Result<Span, LoadError> {
        let data = self.get(name, Dtype::I32, want)?;
        let start = pool.len();
        pool.extend(
            data.chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
        Ok(Span {
            start,
            len: data.len() / 4,
        })
    }
}

impl OwnedModel {
    /// Read and check a model file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let bytes = std::fs::read(path).map_err(LoadError::Io)?;
        Self::from_bytes(&bytes)
    }

    /// Parse and check the bytes of a model file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LoadError> {
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| LoadError::Safetensors(e.to_string()))?;
        let (_, meta) =
            SafeTensors::read_metadata(bytes).map_err(|e| LoadError::Safetensors(e.to_string()))?;
        let meta = meta
            .metadata()
            .as_ref()
            .ok_or_else(|| LoadError::Format("no metadata".into()))?;
        let key = |k: &str| meta.get(k).map(String::as_str);
        if key("format") != Some(FORMAT) {
            return Err(LoadError::Format(format!("format is {:?}", key("format"))));
        }
        if key("format_version") != Some(FORMAT_VERSION) {
            return Err(LoadError::Format(format!(
                "format_version is {:?}",
                key("format_version")
            )));
        }
        let graph: Value =
            serde_json::from_str(key("graph").ok_or_else(|| LoadError::Format("no graph".into()))?)
                .map_err(|e| graph_err("JSON", e))?;
        let mut tensors = Tensors {
            st,
            used: BTreeSet::new(),
        };

        let inp = field(&graph, "input", "")?;
        let input = shape(inp, "input")?;
        let input_zero_point = int(inp, "zero_point", "input")?;
        let layer_list = field(&graph, "layers", "")?
            .as_array()
            .ok_or_else(|| graph_err("layers", "must be a list"))?;
        if layer_list.len() > MAX_LAYERS {
            return Err(ModelError::TooManyLayers(layer_list.len()).into());
        }
        let mut shapes = vec![input];
        let (mut layers, mut weights, mut params) = (Vec::new(), Vec::new(), Vec::new());
        for (i, e) in layer_list.iter().enumerate() {
            let at = format!("layers[{i}]");
            let op_name = field(e, "op", &at)?
                .as_str()
                .ok_or_else(|| graph_err(&at, "\"op\" must be a string"))?;
            let two = op_name == "add";
            let inputs_v = field(e, "inputs", &at)?
                .as_array()
                .ok_or_else(|| graph_err(&at, "\"inputs\" must be a list"))?;
            let mut inputs = [0usize; 2];
            if inputs_v.len() != 1 + usize::from(two) {
                return Err(graph_err(
                    &at,
                    format_args!("{op_name} takes {} inputs", 1 + usize::from(two)),
                ));
            }
            for (d, x) in inputs.iter_mut().zip(inputs_v) {
                *d = x
                    .as_u64()
                    .and_then(|t| usize::try_from(t).ok())
                    .filter(|&t| t <= i)
                    .ok_or_else(|| graph_err(&at, "inputs must name earlier tensors"))?;
            }
            if !two {
                inputs[1] = inputs[0];
            }
            let out_v = field(e, "output", &at)?;
            let output = shape(out_v, &format!("{at}.output"))?;
            let cin = shapes[inputs[0]].c;
            let op = match op_name {
                "conv2d" | "depthwise_conv2d" => {
                    let window = window(e, &at)?;
                    let [kh, kw] = window.kernel;
                    let cout = output.c;
                    let depthwise = op_name == "depthwise_conv2d";
                    let depth_multiplier = if depthwise {
                        usize::try_from(int(e, "depth_multiplier", &at)?)
                            .map_err(|_| graph_err(&at, "negative depth_multiplier"))?
                    } else {
                        1
                    };
                    let wshape: &[usize] = if depthwise {
                        &[kh, kw, cout]
                    } else {
                        &[cout, kh, kw, cin]
                    };
                    if wshape
                        .iter()
                        .try_fold(1usize, |a, &d| a.checked_mul(d))
                        .is_none_or(|n| n > MAX_ELEMENTS)
                    {
                        return Err(graph_err(&at, "weight larger than 2^24 elements"));
                    }
                    let name = |p: &str| format!("layers.{i}.{p}");
                    let conv = Conv {
                        window,
                        depth_multiplier,
                        weight: tensors.i8s(&name("weight"), wshape, &mut weights)?,
                        bias: tensors.i32s(&name("bias"), &[cout], &mut params)?,
                        multiplier: tensors.i32s(&name("multiplier"), &[cout], &mut params)?,
                        shift: tensors.i32s(&name("shift"), &[cout], &mut params)?,
                    };
                    if depthwise {
                        Op::DepthwiseConv2d(conv)
                    } else {
                        Op::Conv2d(conv)
                    }
                }
                "avg_pool2d" => Op::AvgPool2d(window(e, &at)?),
                "max_pool2d" => Op::MaxPool2d(window(e, &at)?),
                "add" => Op::Add(Add {
                    left_shift: u32::try_from(int(e, "left_shift", &at)?)
                        .map_err(|_| graph_err(&at, "negative left_shift"))?,
                    input_multiplier: i32s(
                        ints(e, "input_multipliers", &at)?,
                        &at,
                        "input_multipliers",
                    )?,
                    input_shift: i32s(ints(e, "input_shifts", &at)?, &at, "input_shifts")?,
                    multiplier: int(e, "multiplier", &at)?,
                    shift: int(e, "shift", &at)?,
                }),
                other => return Err(graph_err(&at, format_args!("unknown op {other:?}"))),
            };
            layers.push(Layer {
                op,
                inputs,
                output,
                output_zero_point: int(out_v, "zero_point", &format!("{at}.output"))?,
                act_min: int(e, "act_min", &at)?,
                act_max: int(e, "act_max", &at)?,
            });
            shapes.push(output);
        }
        let h = field(&graph, "head", "")?;
        let levels = usize::try_from(int(h, "levels", "head")?)
            .ok()
            .filter(|l| *l <= 16)
            .ok_or_else(|| graph_err("head", "\"levels\" must be 2, 4, 8 or 16"))?;
        let flag = |k: &str| {
            field(h, k, "head")?
                .as_bool()
                .ok_or_else(|| graph_err("head", format_args!("{k:?} must be a boolean")))
        };
        let head = Head {
            centers: tensors.i32s("head.centers", &[levels], &mut params)?,
            frac_bits: u32::try_from(int(h, "frac_bits", "head")?)
                .map_err(|_| graph_err("head", "negative frac_bits"))?,
            power_norm: flag("power_norm")?,
            gray: flag("gray")?,
        };
        if let Some(extra) = tensors
            .st
            .names()
            .into_iter()
            .find(|n| !tensors.used.contains(*n))
        {
            return Err(LoadError::Tensor {
                name: extra.to_string(),
                reason: "not part of the graph".into(),
            });
        }
        let mut owned = Self {
            input,
            input_zero_point,
            layers,
            weights,
            params,
            head,
            packed: None,
        };
        owned.packed = Packed::new(&Encoder::new(owned.model())?);
        Ok(owned)
    }

    /// The borrowed view (what the firmware bakes into statics).
    pub fn model(&self) -> Model<'_> {
        Model {
            input: self.input,
            input_zero_point: self.input_zero_point,
            layers: &self.layers,
            weights: &self.weights,
            params: &self.params,
            head: self.head,
        }
    }

    /// The validated encoder of this model.
    pub fn encoder(&self) -> Result<Encoder<'_>, ModelError> {
        Encoder::new(self.model())
    }

    /// [`Encoder::encode_batch`] with a chosen conv2d `kernel`, on the weights
    /// packed at load time: the same results for every kernel;
    /// `Err(KernelUnavailable)` where this CPU cannot run it.
    pub fn encode_batch_with(
        &self,
        images: &[u8],
        symbols: &mut [u8],
        threads: usize,
        kernel: Kernel,
    ) -> Result<(), RunError> {
        let packed = match kernel {
            Kernel::Portable => None,
            Kernel::Avx2 => Some(
                self.packed
                    .as_ref()
                    .ok_or(RunError::KernelUnavailable("avx2"))?,
            ),
        };
        let enc = self.encoder().map_err(RunError::Model)?;
        enc.run_batch(images, symbols, threads, packed)
    }
}
