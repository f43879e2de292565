#!/usr/bin/env bash
# All the tests: Rust (fmt, clippy, rustdoc, tests, no_std build) and Python (ruff, mypy,
# pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev

step() { printf '\n\033[1m== %s\033[0m\n' "$*" >&2; }

step "cargo fmt"
cargo fmt --all --check
cargo fmt --check --manifest-path firmware-rs/Cargo.toml
cargo fmt --check --manifest-path rust/core/fuzz/Cargo.toml
step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
step "no_std build of the core"
cargo build -p semanticnn-core --no-default-features
step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
step "cargo nextest"
cargo nextest run --workspace --no-fail-fast
step "ruff"
.venv/bin/ruff check python tests
.venv/bin/ruff format --check python tests
step "mypy"
.venv/bin/mypy
step "pytest"
.venv/bin/python -m pytest -q
