//! Build script: picks the board's `memory.x`, bakes the encoder model and
//! the test images into `static` arrays (`$OUT_DIR/model.rs`), and sizes the
//! scratch buffers from the model's static plan. A model that does not fit
//! the board's RAM stops the build here, with the numbers.
//!
//! Inputs (environment): `SEMANTICNN_MODEL` (a `.safetensors` model; default
//! `semanticnn_core::firmware::default_model`: the default run's export when it
//! exists, else the golden test model), `SEMANTICNN_IMAGES` (a uint8 `.npy`
//! of images, N x H x W x C; default `<model stem>_images.npy` beside the
//! model, `semanticnn_core::firmware::images_file`), `SEMANTICNN_BENCH_MODELS`
//! (the bench binary's models). The board's memory sizes, the image count
//! and the images file name come from `semanticnn_core::firmware`, which the
//! host tools read too.
use std::{
    env,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process,
};

use semanticnn_core::firmware::{self, images_file, BAKED_IMAGES};
use semanticnn_core::nn::OwnedModel;

/// RAM kept for the stack and the firmware's own statics, beyond the plan.
const STACK_RESERVE: usize = 8 * 1024;
/// Flash kept for the program and the test images, beyond the model.
const FLASH_RESERVE: usize = 128 * 1024;

fn fail(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {msg}");
    process::exit(1)
}

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let repo = manifest
        .parent()
        .expect("firmware-rs/ sits in the repository")
        .to_path_buf();
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "SEMANTICNN_MODEL",
        "SEMANTICNN_IMAGES",
        "SEMANTICNN_BENCH_MODELS",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let board = board();
    let memory = manifest.join("boards").join(board).join("memory.x");
    println!("cargo:rerun-if-changed={}", memory.display());
    let memory_x =
        fs::read_to_string(&memory).unwrap_or_else(|e| fail(format!("{}: {e}", memory.display())));
    let [flash, ram] = ["FLASH", "RAM"].map(|name| {
        firmware::region_length(&memory_x, name)
            .map(|len| len as usize)
            .unwrap_or_else(|e| fail(format!("{}: region {name}: {e}", memory.display())))
    });
    fs::write(out.join("memory.x"), &memory_x).unwrap_or_else(|e| fail(e));
    println!("cargo:rustc-link-search={}", out.display());
    if env::var_os("CARGO_FEATURE_RTT").is_some() {
        // defmt's interned strings live in sections its linker script places.
        println!("cargo:rustc-link-arg=-Tdefmt.x");
    }

    let model_path = match env::var_os("SEMANTICNN_MODEL") {
        Some(p) => PathBuf::from(p),
        None => firmware::default_model(&repo),
    };
    let images_path = match env::var_os("SEMANTICNN_IMAGES") {
        Some(p) => PathBuf::from(p),
        None => images_file(&model_path),
    };
    let mut code = String::from(
        "#[allow(unused_imports)]\n\
         use semanticnn_core::nn::{Add, Conv, Head, Layer, Model, Op::*, Padding, Shape, Span, Window};\n",
    );
    let plan = bake_model(&mut code, "", &model_path);
    // Boards with a probe also hold the RTT buffers (src/rtt.rs) in RAM.
    let rtt = if env::var_os("CARGO_FEATURE_RTT").is_some() {
        firmware::RTT_RAM
    } else {
        0
    };
    let need = plan.ram() + STACK_RESERVE + rtt;
    if need > ram {
        fail(format!(
            "model {} does not fit board {board}: it needs {need} bytes of RAM \
             (activation arena {} + i16 work {} + symbols/frame {} + stack reserve {STACK_RESERVE} \
             + RTT buffers {rtt}), the board has {ram}",
            model_path.display(),
            plan.arena_len,
            2 * plan.work_len,
            2 * plan.num_symbols,
        ));
    }
    if plan.flash + FLASH_RESERVE > flash {
        fail(format!(
            "model {} does not fit board {board}: its weights and parameters take {} bytes \
             of flash, plus {FLASH_RESERVE} for the program, the board has {flash}",
            model_path.display(),
            plan.flash,
        ));
    }
    bake_images(&mut code, &images_path, plan.input_len);
    let bench_dir = env::var_os("SEMANTICNN_BENCH_MODELS").map(PathBuf::from);
    bake_bench(&mut code, bench_dir.as_deref());
    fs::write(out.join("model.rs"), code).unwrap_or_else(|e| fail(e));
}

fn board() -> &'static str {
    let boards = [
        ("netduinoplus2", "NETDUINOPLUS2"),
        ("nucleo-f446re", "NUCLEO_F446RE"),
        ("nucleo-f746zg", "NUCLEO_F746ZG"),
    ];
    let chosen: Vec<&str> = boards
        .iter()
        .filter(|(_, feature)| env::var_os(format!("CARGO_FEATURE_{feature}")).is_some())
        .map(|(name, _)| *name)
        .collect();
    match chosen[..] {
        [board] => board,
        _ => fail(format!(
            "choose exactly one board feature (netduinoplus2, nucleo-f446re, nucleo-f746zg), got {chosen:?}"
        )),
    }
}

/// Sizes from the model's static plan.
struct Plan {
    input_len: usize,
    num_symbols: usize,
    arena_len: usize,
    work_len: usize,
    /// Bytes of the model's weights and parameters (in flash).
    flash: usize,
}

impl Plan {
    /// Bytes of RAM the encoder needs: the int8 arena, the i16 work buffer,
    /// the symbols and the frame (at most one byte per symbol plus header).
    fn ram(&self) -> usize {
        self.arena_len + 2 * self.work_len + 2 * self.num_symbols
    }
}

/// Loads, validates and writes one model as `{prefix}LAYERS`, `{prefix}WEIGHTS`,
/// `{prefix}PARAMS`, `{prefix}MODEL` and its plan constants.
fn bake_model(code: &mut String, prefix: &str, path: &Path) -> Plan {
    println!("cargo:rerun-if-changed={}", path.display());
    let owned = OwnedModel::from_file(path)
        .unwrap_or_else(|e| fail(format!("model {}: {e}", path.display())));
    let encoder = owned
        .encoder()
        .unwrap_or_else(|e| fail(format!("model {}: {e}", path.display())));
    let m = owned.model();
    let plan = Plan {
        input_len: encoder.input_len(),
        num_symbols: encoder.num_symbols(),
        arena_len: encoder.arena_len(),
        work_len: encoder.work_len(),
        flash: m.weights.len() + 4 * m.params.len(),
    };
    let p = prefix;
    let _ = writeln!(code, "// Baked from {} by build.rs.", path.display());
    let _ = writeln!(
        code,
        "pub static {p}LAYERS: [Layer; {}] = [",
        m.layers.len()
    );
    for l in m.layers {
        let _ = writeln!(code, "    {l:?},");
    }
    let _ = writeln!(code, "];");
    array(code, &format!("{p}WEIGHTS"), "i8", m.weights);
    array(code, &format!("{p}PARAMS"), "i32", m.params);
    let _ = writeln!(
        code,
        "pub const {p}MODEL: Model<'static> = Model {{ input: {:?}, input_zero_point: {}, \
         layers: &{p}LAYERS, weights: &{p}WEIGHTS, params: &{p}PARAMS, head: {:?} }};",
        m.input, m.input_zero_point, m.head
    );
    let levels = m.head.centers.len;
    // Bits per symbol: enough for `levels` symbols, at least one.
    let bits = (usize::BITS - levels.saturating_sub(1).leading_zeros()).max(1);
    for (name, value) in [
        ("INPUT_LEN", plan.input_len),
        ("NUM_SYMBOLS", plan.num_symbols),
        ("ARENA_LEN", plan.arena_len),
        ("WORK_LEN", plan.work_len),
        ("MACS", encoder.macs() as usize),
        ("LEVELS", levels),
        ("SYMBOL_BITS", bits as usize),
    ] {
        let _ = writeln!(code, "pub const {p}{name}: usize = {value};");
    }
    plan
}

fn array<T: std::fmt::Display>(code: &mut String, name: &str, ty: &str, values: &[T]) {
    let _ = write!(code, "pub static {name}: [{ty}; {}] = [", values.len());
    for (i, v) in values.iter().enumerate() {
        if i % 32 == 0 {
            code.push_str("\n    ");
        }
        let _ = write!(code, "{v},");
    }
    let _ = writeln!(code, "\n];");
}

/// The test images: the first [`BAKED_IMAGES`] of a uint8 `.npy` whose items
/// have the model's input size.
fn bake_images(code: &mut String, path: &Path, input_len: usize) {
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = fs::read(path).unwrap_or_else(|e| {
        fail(format!(
            "test images {}: {e} (set SEMANTICNN_IMAGES to a uint8 .npy of images)",
            path.display()
        ))
    });
    let data =
        npy_u8(&bytes).unwrap_or_else(|why| fail(format!("test images {}: {why}", path.display())));
    if input_len == 0 || data.len() % input_len != 0 {
        fail(format!(
            "test images {}: {} bytes is not a whole number of {input_len}-byte model inputs",
            path.display(),
            data.len()
        ));
    }
    let count = (data.len() / input_len).min(BAKED_IMAGES);
    let _ = writeln!(code, "pub const NUM_IMAGES: usize = {count};");
    array(code, "IMAGES", "u8", &data[..count * input_len]);
}

/// The data of a C-order uint8 `.npy` (format 1.0–3.0).
fn npy_u8(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy file".into());
    }
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => {
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (n as usize, 12)
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(start..start + header_len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("truncated .npy header")?;
    if !header.contains("'|u1'") || header.contains("'fortran_order': True") {
        return Err(format!(
            "need a C-order uint8 array, header is {}",
            header.trim()
        ));
    }
    Ok(&bytes[start + header_len..])
}

/// Benchmark layers: every `*.safetensors` in `dir` (sorted by name), baked as
/// `BENCH_<i>_...` with the first image of `<stem>_images.npy` beside each;
/// `BENCH` lists them (empty without a directory) with the largest buffers
/// any of them needs.
fn bake_bench(code: &mut String, dir: Option<&Path>) {
    let mut models: Vec<PathBuf> = Vec::new();
    if let Some(dir) = dir {
        println!("cargo:rerun-if-changed={}", dir.display());
        models = fs::read_dir(dir)
            .unwrap_or_else(|e| fail(format!("bench models {}: {e}", dir.display())))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        models.sort();
    }
    code.push_str(
        "/// One benchmark layer: its model, one input image and its MACs.\n\
         pub struct BenchModel { pub model: Model<'static>, pub image: &'static [u8], pub macs: usize }\n",
    );
    let mut entries = String::new();
    let (mut arena, mut work) = (1, 1);
    for (i, path) in models.iter().enumerate() {
        let p = format!("BENCH_{i}_");
        let plan = bake_model(code, &p, path);
        let images_path = images_file(path);
        println!("cargo:rerun-if-changed={}", images_path.display());
        let images = fs::read(&images_path)
            .unwrap_or_else(|e| fail(format!("{}: {e}", images_path.display())));
        let data =
            npy_u8(&images).unwrap_or_else(|why| fail(format!("{}: {why}", images_path.display())));
        if data.len() < plan.input_len {
            fail(format!("{}: no whole image", images_path.display()));
        }
        array(code, &format!("{p}IMAGE"), "u8", &data[..plan.input_len]);
        arena = arena.max(plan.arena_len);
        work = work.max(plan.work_len);
        let _ = writeln!(
            entries,
            "    BenchModel {{ model: {p}MODEL, image: &{p}IMAGE, macs: {p}MACS }},"
        );
    }
    let _ = writeln!(
        code,
        "pub static BENCH: [BenchModel; {}] = [\n{entries}];",
        models.len()
    );
    let _ = writeln!(code, "pub const BENCH_ARENA_LEN: usize = {arena};");
    let _ = writeln!(code, "pub const BENCH_WORK_LEN: usize = {work};");
}
