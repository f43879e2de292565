//! Selects the board's `memory.x` for cortex-m-rt's `link.x`.
use std::{env, fs, path::PathBuf};

fn main() {
    let boards = [
        ("netduinoplus2", "NETDUINOPLUS2"),
        ("nucleo-f746zg", "NUCLEO_F746ZG"),
    ];
    let chosen: Vec<&str> = boards
        .iter()
        .filter(|(_, feature)| env::var_os(format!("CARGO_FEATURE_{feature}")).is_some())
        .map(|(name, _)| *name)
        .collect();
    let [board] = chosen[..] else {
        panic!("choose exactly one board feature (netduinoplus2, nucleo-f746zg), got {chosen:?}");
    };
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let memory = format!("boards/{board}/memory.x");
    fs::copy(&memory, out.join("memory.x")).expect("copy the board's memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed={memory}");
    println!("cargo:rerun-if-changed=build.rs");
}
