"""`semanticnn firmware bench`: the core crate's int8 conv kernel on the
Cortex-M4 (QEMU, instructions counted with `-icount shift=0`) for four layer
shapes, next to CMSIS-NN's `arm_convolve_s8` and plain C measured the same way.

Each shape is a one-layer model (3x3 conv, stride 1, pad 1, per-channel
requantization, random weights from a fixed seed) baked into the `bench`
firmware image; the firmware times `Encoder::forward` (the layer without the
quantization head) and prints the int8 output, which must equal the host's
numpy integer reference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import int8
from ..fsutil import write_bytes_atomic
from ..models.architecture import ConvSpec
from ..paths import images_for
from .boards import board
from .build import FirmwareError, build, firmware_dir
from .emulate import EMULATE_TIMEOUT_S, run_elf


@dataclass(frozen=True)
class Shape:
    h: int
    w: int
    cin: int
    cout: int
    cmsis_nn: float  # instructions per MAC, arm_convolve_s8 (gcc -O3, DSP on)
    plain_c: float  # instructions per MAC, plain C -O3

    @property
    def macs(self) -> int:
        return self.h * self.w * self.cout * 9 * self.cin


# Reference figures from the issue, measured in QEMU -icount shift=0 the same way.
SHAPES = (
    Shape(28, 28, 1, 16, 10.5, 12.1),
    Shape(14, 14, 16, 32, 2.14, 4.24),
    Shape(14, 14, 32, 32, 1.93, 6.12),
    Shape(7, 7, 64, 64, 1.78, 5.19),
)
SEED = 20251125


def _write_if_changed(path: Path, data: bytes) -> None:
    """Keep the file (and its mtime, so cargo's cache holds) when unchanged."""
    if not path.is_file() or path.read_bytes() != data:
        write_bytes_atomic(path, data)


def bench_models(directory: Path) -> list[tuple[Path, np.ndarray]]:
    """Write the benchmark models and one image each into `directory`;
    returns (model path, image) per shape, in `SHAPES` order."""
    import io
    import tempfile

    out = []
    for i, s in enumerate(SHAPES):
        spec = ConvSpec(s.cin, s.cout, kernel=3, stride=1, padding=1, relu=False)
        model = int8.synthetic_model([spec], (s.h, s.w, s.cin), seed=SEED + i)
        path = directory / f"{i}_conv_{s.h}x{s.w}x{s.cin}_{s.cout}.safetensors"
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp) / "m.safetensors"
            int8.write_model(t, *model)
            _write_if_changed(path, t.read_bytes())
        image = np.random.default_rng(SEED + i).integers(0, 256, (1, s.h, s.w, s.cin), np.uint8)
        buf = io.BytesIO()
        np.save(buf, image)
        _write_if_changed(images_for(path), buf.getvalue())
        out.append((path, image[0]))
    return out


def run_bench(*, timeout: float = EMULATE_TIMEOUT_S) -> list[dict[str, float | int]]:
    """Build and run the benchmark image; one row per shape. Raises
    FirmwareError if the firmware's output differs from the host's."""
    b = board("netduinoplus2")
    directory = firmware_dir() / "target" / "semanticnn" / "bench-models"
    models = bench_models(directory)
    built = build(b, bin_name="bench", env={"SEMANTICNN_BENCH_MODELS": str(directory)})
    run = run_elf(built.elf, b, timeout=timeout)
    layers = run.of("LAYER")
    if len(layers) != len(SHAPES):
        raise FirmwareError(f"bench firmware ran {len(layers)} layers, expected {len(SHAPES)}")
    rows = []
    for s, (path, image), rec in zip(SHAPES, models, layers, strict=True):
        want = int8.reference_tensors(int8.read_model(path), image)[-1]
        got = np.frombuffer(bytes.fromhex(rec.fields.get("hex", "")), np.int8)
        if got.shape != (want.size,) or not np.array_equal(got, want.reshape(-1)):
            raise FirmwareError(
                f"bench layer {s.h}x{s.w}x{s.cin}->{s.cout}: the firmware's output differs "
                "from the host's integer reference"
            )
        if rec.int("macs") != s.macs:
            raise FirmwareError(f"bench layer: firmware counted {rec.int('macs')} MACs")
        instructions = run.instructions(rec.int("ticks"))
        rows.append(
            {
                "h": s.h,
                "w": s.w,
                "cin": s.cin,
                "cout": s.cout,
                "macs": s.macs,
                "instructions": round(instructions),
                "instructions_per_mac": instructions / s.macs,
                "cmsis_nn_instructions_per_mac": s.cmsis_nn,
                "plain_c_instructions_per_mac": s.plain_c,
            }
        )
    return rows


def format_table(rows: list[dict[str, float | int]]) -> str:
    lines = [
        "| layer (HxWxCin → Cout) | semanticnn instr/MAC | CMSIS-NN instr/MAC | ratio "
        "| plain C -O3 instr/MAC |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = float(r["instructions_per_mac"]) / float(r["cmsis_nn_instructions_per_mac"])
        lines.append(
            f"| {r['h']}x{r['w']}x{r['cin']} → {r['cout']} | {r['instructions_per_mac']:.2f} "
            f"| {r['cmsis_nn_instructions_per_mac']} | {ratio:.2f}x "
            f"| {r['plain_c_instructions_per_mac']} |"
        )
    return "\n".join(lines)
