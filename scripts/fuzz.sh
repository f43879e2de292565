#!/usr/bin/env bash
# Fuzz the parsers that read bytes from outside the program, with cargo-fuzz
# (libFuzzer): the wire frame, the model file and the UART image stream.
# Not part of CI. Usage: scripts/fuzz.sh [SECONDS per target, default 300] [TARGET...]
# (targets: frame_decode model_load uart_stream, default all three)
#
# The seed corpora come from the golden vectors (tests/vectors): the model
# files, frames of their symbols, and an image stream of their images. A crash
# stops the script with the reproducer under rust/core/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
targets=("${@:2}")
[ ${#targets[@]} -gt 0 ] || targets=(frame_decode model_load uart_stream)
fuzz=rust/core/fuzz
[ -x .venv/bin/python ] || scripts/setup.sh
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes -Z flags (sanitizers) to rustc; the stable toolchain takes them so.
export RUSTC_BOOTSTRAP=1

.venv/bin/python - "$fuzz/corpus" <<'PY'
import sys
from pathlib import Path

import numpy as np
from semanticnn import frame

root = Path(sys.argv[1])
vectors = Path("tests/vectors")
for name in ("frame_decode", "model_load", "uart_stream"):
    (root / name).mkdir(parents=True, exist_ok=True)
for model in vectors.glob("*.safetensors"):
    (root / "model_load" / model.name).write_bytes(model.read_bytes())
symbols = np.load(vectors / "default_symbols.npy")
for i, row in enumerate(symbols[:8]):
    for pilot in (0, 32):
        wire = frame.encode(row, 3, model_id=0, seq=i, gray=bool(i % 2), pilot_bits=pilot)
        (root / "frame_decode" / f"default-{i}-{pilot}").write_bytes(wire)
images = np.load(vectors / "default_images.npy")[:2]
n, h, w, c = images.shape
header = b"SNNI" + bytes([1, c]) + b"".join(v.to_bytes(2, "little") for v in (h, w, n))
end = b"SNNI" + bytes([1, c]) + bytes(6)
(root / "uart_stream" / "two-images").write_bytes(header + images.tobytes() + end)
PY

printf '%-14s %14s %10s\n' target executions exec/s > "$fuzz/stats.txt"
for target in "${targets[@]}"; do
    log="$fuzz/$target.log"
    cargo fuzz run --fuzz-dir "$fuzz" --release "$target" "$fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 -max_len=1048576 2>"$log" \
        || { tail -40 "$log"; echo "fuzz: $target crashed (see $fuzz/artifacts/$target)"; exit 1; }
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    printf '%-14s %14s %10s\n' "$target" "$runs" "$((runs / seconds))" >> "$fuzz/stats.txt"
done
cat "$fuzz/stats.txt"
