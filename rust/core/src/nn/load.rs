//! Loading a `semanticnn-int8` safetensors file (host only, `std` feature).
//! Every shape, dtype and range is checked; a bad file is a [`LoadError`].

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::string::{String, ToString};
use std::vec::Vec;

use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

use super::model::{
    Add, Conv, Head, Layer, Model, ModelError, Op, Padding, Shape, Span, Window, MAX_ELEMENTS,
};
use super::plan::{Encoder, Kernel, Packed, RunError};
use super::validate::{check_inputs, check_layer_count, check_levels, weight_dims};

pub const FORMAT: &str = "semanticnn-int8";
/// The newest version: a window's `padding` may give each side,
/// `[top, bottom, left, right]`.
pub const FORMAT_VERSION: &str = "2";
/// The version of a file whose every `padding` is `[ph, pw]` (both sides of
/// a dimension equal), which readers older than [`FORMAT_VERSION`] read too;
/// writers give such files this version.
pub const FORMAT_VERSION_SYMMETRIC: &str = "1";
/// Largest model file the loader reads (a model within [`super::MAX_OPS`] has
/// far fewer weights); checked from the file's size before it is read.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

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
    /// A file of this many bytes, more than [`MAX_FILE_BYTES`].
    TooLarge(u64),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "cannot read the model file: {e}"),
            Self::Safetensors(e) => write!(f, "not a valid safetensors file: {e}"),
            Self::Format(e) => write!(
                f,
                "not a {FORMAT} v{FORMAT_VERSION_SYMMETRIC} or v{FORMAT_VERSION} model: {e}"
            ),
            Self::Graph(at, e) => write!(f, "graph {at}: {e}"),
            Self::Tensor { name, reason } => write!(f, "tensor {name}: {reason}"),
            Self::Model(e) => write!(f, "{e}"),
            Self::TooLarge(n) => write!(
                f,
                "the model file has {n} bytes or more, at most {MAX_FILE_BYTES} allowed"
            ),
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
/// It also holds its conv2d weights packed for every [`Kernel`] this CPU runs
/// that packs them, made once when it loads.
#[derive(Clone, Debug)]
pub struct OwnedModel {
    input: Shape,
    input_zero_point: i32,
    layers: Vec<Layer>,
    weights: Vec<i8>,
    params: Vec<i32>,
    head: Head,
    packed: Vec<Packed>,
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

/// A window; a `padding` of four sides only where `per_side` (format version 2).
fn window(v: &Value, at: &str, per_side: bool) -> Result<Window, LoadError> {
    let sides = field(v, "padding", at)?.as_array().map_or(0, Vec::len);
    let padding = match sides {
        2 => {
            let [ph, pw] = dims(v, "padding", at)?;
            Padding::symmetric(ph, pw)
        }
        4 if per_side => {
            let [top, bottom, left, right] = dims(v, "padding", at)?;
            Padding {
                top,
                bottom,
                left,
                right,
            }
        }
        4 => {
            return Err(graph_err(
                at,
                format_args!(
                    "\"padding\" [top, bottom, left, right] needs format_version \
                     {FORMAT_VERSION:?}, the file has {FORMAT_VERSION_SYMMETRIC:?}"
                ),
            ))
        }
        _ => {
            return Err(graph_err(
                at,
                "\"padding\" must be [ph, pw] or [top, bottom, left, right]",
            ))
        }
    };
    Ok(Window {
        kernel: dims(v, "kernel", at)?,
        stride: dims(v, "stride", at)?,
        padding,
    })
}

fn i32s(v: [i64; 2], at: &str, key: &str) -> Result<[i32; 2], LoadError> {
    let one = |x: i64| {
        i32::try_from(x)
            .map_err(|_| graph_err(at, format_args!("{key:?} must hold 32-bit integers")))
    };
    Ok([one(v[0])?, one(v[1])?])
}

/// The file's tensors, read into the two parameter pools as the graph names them.
struct Tensors<'b> {
    st: SafeTensors<'b>,
    /// Whether the file's version lets a `padding` give each side.
    per_side_padding: bool,
    used: BTreeSet<String>,
    weights: Vec<i8>,
    params: Vec<i32>,
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

    /// Appends int8 tensor `name` of shape `want` to the weights.
    fn i8s(&mut self, name: &str, want: &[usize]) -> Result<Span, LoadError> {
        let data = self.get(name, Dtype::I8, want)?;
        let len = data.len();
        let values: Vec<i8> = data.iter().map(|&b| b as i8).collect();
        let start = self.weights.len();
        self.weights.extend(values);
        Ok(Span { start, len })
    }

    /// Appends int32 tensor `name` of shape `want` to the params.
    fn i32s(&mut self, name: &str, want: &[usize]) -> Result<Span, LoadError> {
        let data = self.get(name, Dtype::I32, want)?;
        let values: Vec<i32> = data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let start = self.params.len();
        let len = values.len();
        self.params.extend(values);
        Ok(Span { start, len })
    }

    /// Every tensor of the file was named by the graph.
    fn check_all_used(&self) -> Result<(), LoadError> {
        match self
            .st
            .names()
            .into_iter()
            .find(|n| !self.used.contains(*n))
        {
            Some(extra) => Err(LoadError::Tensor {
                name: extra.to_string(),
                reason: "not part of the graph".into(),
            }),
            None => Ok(()),
        }
    }

    /// The graph's layers, reading their tensors. `input` is tensor 0.
    fn layers(&mut self, list: &Value, input: Shape) -> Result<Vec<Layer>, LoadError> {
        let list = list
            .as_array()
            .ok_or_else(|| graph_err("layers", "must be a list"))?;
        check_layer_count(list.len())?;
        let mut shapes = vec![input];
        let mut layers = Vec::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            let layer = self.layer(i, e, &shapes)?;
            shapes.push(layer.output);
            layers.push(layer);
        }
        Ok(layers)
    }

    /// Layer `i`, whose inputs are among `shapes` (the tensors before it).
    fn layer(&mut self, i: usize, e: &Value, shapes: &[Shape]) -> Result<Layer, LoadError> {
        let at = format!("layers[{i}]");
        let op_name = field(e, "op", &at)?
            .as_str()
            .ok_or_else(|| graph_err(&at, "\"op\" must be a string"))?;
        let inputs = inputs(e, &at, i, op_name)?;
        let out_v = field(e, "output", &at)?;
        let out_at = format!("{at}.output");
        let output = shape(out_v, &out_at)?;
        let op = match op_name {
            "conv2d" | "depthwise_conv2d" => {
                let depthwise = op_name == "depthwise_conv2d";
                self.conv(i, e, &at, depthwise, shapes[inputs[0]].c, output.c)?
            }
            "avg_pool2d" => Op::AvgPool2d(window(e, &at, self.per_side_padding)?),
            "max_pool2d" => Op::MaxPool2d(window(e, &at, self.per_side_padding)?),
            "add" => Op::Add(add(e, &at)?),
            other => return Err(graph_err(&at, format_args!("unknown op {other:?}"))),
        };
        Ok(Layer {
            op,
            inputs,
            output,
            output_zero_point: int(out_v, "zero_point", &out_at)?,
            act_min: int(e, "act_min", &at)?,
            act_max: int(e, "act_max", &at)?,
        })
    }

    /// A conv2d or depthwise layer `i` from `cin` to `cout` channels.
    fn conv(
        &mut self,
        i: usize,
        e: &Value,
        at: &str,
        depthwise: bool,
        cin: usize,
        cout: usize,
    ) -> Result<Op, LoadError> {
        let window = window(e, at, self.per_side_padding)?;
        let depth_multiplier = if depthwise {
            usize::try_from(int(e, "depth_multiplier", at)?)
                .map_err(|_| graph_err(at, "negative depth_multiplier"))?
        } else {
            1
        };
        let dims = weight_dims(i, depthwise, window.kernel, cin, cout)?;
        let name = |p: &str| format!("layers.{i}.{p}");
        let conv = Conv {
            window,
            depth_multiplier,
            weight: self.i8s(&name("weight"), dims.dims())?,
            bias: self.i32s(&name("bias"), &[cout])?,
            multiplier: self.i32s(&name("multiplier"), &[cout])?,
            shift: self.i32s(&name("shift"), &[cout])?,
        };
        Ok(if depthwise {
            Op::DepthwiseConv2d(conv)
        } else {
            Op::Conv2d(conv)
        })
    }

    fn head(&mut self, h: &Value) -> Result<Head, LoadError> {
        let levels = usize::try_from(int(h, "levels", "head")?).unwrap_or(0);
        check_levels(levels)?;
        let flag = |k: &str| {
            field(h, k, "head")?
                .as_bool()
                .ok_or_else(|| graph_err("head", format_args!("{k:?} must be a boolean")))
        };
        Ok(Head {
            centers: self.i32s("head.centers", &[levels])?,
            frac_bits: u32::try_from(int(h, "frac_bits", "head")?)
                .map_err(|_| graph_err("head", "negative frac_bits"))?,
            power_norm: flag("power_norm")?,
            gray: flag("gray")?,
        })
    }
}

/// The tensors layer `i` reads: one, or two for `add`; all earlier tensors.
fn inputs(e: &Value, at: &str, i: usize, op_name: &str) -> Result<[usize; 2], LoadError> {
    let two = op_name == "add";
    let list = field(e, "inputs", at)?
        .as_array()
        .ok_or_else(|| graph_err(at, "\"inputs\" must be a list"))?;
    let n = 1 + usize::from(two);
    if list.len() != n {
        return Err(graph_err(at, format_args!("{op_name} takes {n} inputs")));
    }
    let mut inputs = [0usize; 2];
    for (d, x) in inputs.iter_mut().zip(list) {
        *d = x
            .as_u64()
            .and_then(|t| usize::try_from(t).ok())
            .ok_or_else(|| graph_err(at, "inputs must name earlier tensors"))?;
    }
    check_inputs(i, &inputs[..n])?;
    if !two {
        inputs[1] = inputs[0];
    }
    Ok(inputs)
}

fn add(e: &Value, at: &str) -> Result<Add, LoadError> {
    Ok(Add {
        left_shift: u32::try_from(int(e, "left_shift", at)?)
            .map_err(|_| graph_err(at, "negative left_shift"))?,
        input_multiplier: i32s(ints(e, "input_multipliers", at)?, at, "input_multipliers")?,
        input_shift: i32s(ints(e, "input_shifts", at)?, at, "input_shifts")?,
        multiplier: int(e, "multiplier", at)?,
        shift: int(e, "shift", at)?,
    })
}

/// The safetensors view of `bytes`, its graph, and whether its version lets
/// a `padding` give each side, after the format checks.
fn read_header(bytes: &[u8]) -> Result<(SafeTensors<'_>, Value, bool), LoadError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| LoadError::Safetensors(e.to_string()))?;
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
    let per_side_padding = match key("format_version") {
        Some(FORMAT_VERSION) => true,
        Some(FORMAT_VERSION_SYMMETRIC) => false,
        other => return Err(LoadError::Format(format!("format_version is {other:?}"))),
    };
    let graph = key("graph").ok_or_else(|| LoadError::Format("no graph".into()))?;
    let graph = serde_json::from_str(graph).map_err(|e| graph_err("JSON", e))?;
    Ok((st, graph, per_side_padding))
}

impl OwnedModel {
    /// Read and check a model file: a regular file of at most
    /// [`MAX_FILE_BYTES`], known from its size before anything is read (a
    /// device such as `/dev/zero` or a file that grows is refused, not read
    /// until memory runs out).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let file = File::open(path).map_err(LoadError::Io)?;
        let meta = file.metadata().map_err(LoadError::Io)?;
        if !meta.is_file() {
            return Err(LoadError::Io(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(LoadError::TooLarge(meta.len()));
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(LoadError::Io)?;
        Self::from_bytes(&bytes)
    }

    /// Parse and check the bytes of a model file: the graph is parsed here,
    /// and checked as a whole by [`Encoder::new`], the one validation.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, LoadError> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(LoadError::TooLarge(bytes.len() as u64));
        }
        let (st, graph, per_side_padding) = read_header(bytes)?;
        let mut tensors = Tensors {
            st,
            per_side_padding,
            used: BTreeSet::new(),
            weights: Vec::new(),
            params: Vec::new(),
        };
        let inp = field(&graph, "input", "")?;
        let input = shape(inp, "input")?;
        let input_zero_point = int(inp, "zero_point", "input")?;
        let layers = tensors.layers(field(&graph, "layers", "")?, input)?;
        let head = tensors.head(field(&graph, "head", "")?)?;
        tensors.check_all_used()?;
        let mut owned = Self {
            input,
            input_zero_point,
            layers,
            weights: tensors.weights,
            params: tensors.params,
            head,
            packed: Vec::new(),
        };
        let enc = Encoder::new(owned.model())?;
        owned.packed = Kernel::ALL
            .into_iter()
            .filter_map(|k| enc.pack(k))
            .collect();
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
        let (enc, packed) = self.encoder_with(kernel)?;
        enc.run_batch(images, symbols, threads, packed)
    }

    /// The int8 latents (the last tensor, NHWC, before the head) of a batch of
    /// images, as [`Self::encode_batch_with`] computes them on its way to the
    /// symbols: what TFLite's interpreter gives for the exported encoder.
    pub fn latent_batch_with(
        &self,
        images: &[u8],
        latents: &mut [i8],
        threads: usize,
        kernel: Kernel,
    ) -> Result<(), RunError> {
        let (enc, packed) = self.encoder_with(kernel)?;
        enc.latent_batch(images, latents, threads, packed)
    }

    /// The encoder and the packed weights `kernel` runs on (`None` for the
    /// portable kernel).
    fn encoder_with(&self, kernel: Kernel) -> Result<(Encoder<'_>, Option<&Packed>), RunError> {
        let packed = match kernel {
            Kernel::Im2col => None,
            _ => Some(
                self.packed
                    .iter()
                    .find(|p| p.kernel() == kernel)
                    .ok_or(RunError::KernelUnavailable(kernel.name()))?,
            ),
        };
        Ok((self.encoder().map_err(RunError::Model)?, packed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::testing::padding;
    use proptest::prelude::*;
    use safetensors::tensor::TensorView;
    use std::collections::HashMap;

    /// A 3x3 stride-2 window with `padding`, over a 7x6 input.
    fn pool_window(padding: Padding) -> Window {
        Window {
            kernel: [3, 3],
            stride: [2, 2],
            padding,
        }
    }

    /// A file of format version `version` whose one layer is an average pool
    /// of [`pool_window`] with padding `p` over a 7x6x2 input; the JSON holds
    /// `padding` (`p` in one form or another).
    fn pool_file(version: &str, p: Padding, padding: &[usize]) -> Vec<u8> {
        let (h, w) = pool_window(p).output_size(7, 6).unwrap_or((0, 0));
        let graph = serde_json::json!({
            "input": {"shape": [7, 6, 2], "zero_point": 0},
            "layers": [{
                "op": "avg_pool2d", "inputs": [0], "kernel": [3, 3], "stride": [2, 2],
                "padding": padding, "output": {"shape": [h, w, 2], "zero_point": 0},
                "act_min": -128, "act_max": 127,
            }],
            "head": {"levels": 2, "frac_bits": 0, "power_norm": false, "gray": false},
        });
        let centers: Vec<u8> = [-1i32, 1].iter().flat_map(|c| c.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::I32, vec![2], &centers).expect("two centers");
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("format_version".to_string(), version.to_string()),
            ("graph".to_string(), graph.to_string()),
        ]);
        safetensors::serialize([("head.centers", view)], Some(metadata)).expect("serializes")
    }

    fn layers(version: &str, p: Padding, padding: &[usize]) -> Result<Vec<Layer>, LoadError> {
        OwnedModel::from_bytes(&pool_file(version, p, padding)).map(|m| m.layers)
    }

    proptest! {
        /// Version 2 reads each side's padding; a symmetric padding reads the
        /// same in either form and version; version 1 refuses four sides.
        #[test]
        fn padding_forms_and_versions(p in padding([3, 3])) {
            let sides = [p.top, p.bottom, p.left, p.right];
            let v2 = layers(FORMAT_VERSION, p, &sides).expect("loads");
            prop_assert_eq!(v2[0].op, Op::AvgPool2d(pool_window(p)));
            if p == Padding::symmetric(p.top, p.left) {
                let pair = [p.top, p.left];
                prop_assert_eq!(&layers(FORMAT_VERSION, p, &pair).expect("loads"), &v2);
                prop_assert_eq!(&layers(FORMAT_VERSION_SYMMETRIC, p, &pair).expect("loads"), &v2);
            }
            let refused = layers(FORMAT_VERSION_SYMMETRIC, p, &sides).map_err(|e| e.to_string());
            prop_assert_eq!(
                refused,
                Err("graph layers[0]: \"padding\" [top, bottom, left, right] needs \
                     format_version \"2\", the file has \"1\"".to_string())
            );
        }
    }

    #[test]
    fn padding_of_other_lengths_is_refused() {
        for padding in [&[][..], &[0], &[0, 0, 0], &[0; 5]] {
            let err = layers(FORMAT_VERSION, Padding::ZERO, padding).map_err(|e| e.to_string());
            assert_eq!(
                err,
                Err(
                    "graph layers[0]: \"padding\" must be [ph, pw] or [top, bottom, left, right]"
                        .to_string()
                )
            );
        }
    }
}
