"""`semanticnn firmware bench`: the core crate's int8 kernels on the Cortex-M4
(QEMU, instructions counted with `-icount shift=0`), layer by layer, next to
CMSIS-NN measured the same way (docs/firmware-bench.md).

Each row is a small model baked into the `bench` firmware image: one layer
(3x3 conv, 1x1 pointwise conv, 3x3 depthwise conv, 2x2 average pool; random
weights from a fixed seed) or, for the element-wise add, a max pool that makes
the add's second input followed by the add. The firmware times the last layer
alone (`Encoder::forward_each`) and prints the model's int8 output, which must
equal the host's numpy integer reference.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import int8
from ..fsutil import write_bytes_atomic
from ..int8.params import activation_range, add_multipliers
from ..int8.synthetic import OUTPUT_SCALE, spread_multipliers
from ..models.architecture import ConvSpec
from ..paths import images_for
from .boards import board
from .build import FirmwareError, build, firmware_dir
from .emulate import EMULATE_TIMEOUT_S, run_elf

KINDS = ("conv3x3", "pointwise", "depthwise", "add", "avgpool")
UNITS = {
    "conv3x3": "MAC",
    "pointwise": "MAC",
    "depthwise": "MAC",
    "add": "element",
    "avgpool": "output",
}


@dataclass(frozen=True)
class Row:
    """One benchmark layer: input `h x w x cin`, `cout` output channels, and
    CMSIS-NN's instructions per unit (`UNITS[kind]`) for the same layer."""

    kind: str
    h: int
    w: int
    cin: int
    cout: int
    stride: int
    cmsis_nn: float
    cmsis_kernel: str
    target: float = 1.0  # the goal: at most this many times CMSIS-NN's instructions
    plain_c: float | None = None  # instructions per MAC, plain C -O3 (the first rows)

    @property
    def out_hw(self) -> tuple[int, int]:
        if self.kind == "conv3x3" or self.kind == "depthwise":
            return (self.h - 1) // self.stride + 1, (self.w - 1) // self.stride + 1
        if self.kind == "avgpool":
            return self.h // 2, self.w // 2
        return self.h, self.w

    @property
    def taps(self) -> int:
        return {"conv3x3": 9 * self.cin, "pointwise": self.cin, "depthwise": 9}.get(self.kind, 0)

    @property
    def macs(self) -> int:
        oh, ow = self.out_hw
        return oh * ow * self.cout * self.taps

    @property
    def units(self) -> int:
        """MACs for the convs, output elements for add and average pool."""
        oh, ow = self.out_hw
        return self.macs if self.taps else oh * ow * self.cout

    @property
    def name(self) -> str:
        oh, ow = self.out_hw
        if self.kind in ("depthwise", "conv3x3"):
            what = f"{self.kind} s{self.stride}"
        else:
            what = self.kind
        shape = f"{self.h}x{self.w}x{self.cin}"
        if (oh, ow) != (self.h, self.w):
            shape += f" → {oh}x{ow}x{self.cout}"
        elif self.kind in ("conv3x3", "pointwise"):
            shape += f" → {self.cout}"
        return f"{what} {shape}"


# CMSIS-NN figures measured externally in QEMU -icount shift=0 (CMSIS-NN 99f736a,
# arm-none-eabi-gcc 12.2 -O3, Cortex-M4F); the first four (arm_convolve_s8, with
# plain C) are issue 5's, the MobileNetV2 shapes issue 13's.
CONV = "arm_convolve_s8"
DW = "arm_depthwise_conv_3x3_s8"
PW = "arm_convolve_1x1_s8_fast"
ROWS = (
    Row("conv3x3", 28, 28, 1, 16, 1, 10.5, CONV, plain_c=12.1),
    Row("conv3x3", 14, 14, 16, 32, 1, 2.14, CONV, plain_c=4.24),
    Row("conv3x3", 14, 14, 32, 32, 1, 1.93, CONV, plain_c=6.12),
    Row("conv3x3", 7, 7, 64, 64, 1, 1.78, CONV, plain_c=5.19),
    Row("depthwise", 16, 16, 32, 32, 1, 8.78, DW, target=0.5),
    Row("depthwise", 8, 8, 96, 96, 1, 8.28, DW, target=0.5),
    Row("depthwise", 8, 8, 144, 144, 1, 8.24, DW, target=0.5),
    Row("depthwise", 16, 16, 96, 96, 2, 8.57, DW, target=0.5),
    Row("pointwise", 16, 16, 16, 96, 1, 3.97, PW),
    Row("pointwise", 8, 8, 96, 24, 1, 1.90, PW),
    Row("pointwise", 8, 8, 24, 144, 1, 3.34, PW),
    Row("pointwise", 4, 4, 144, 32, 1, 1.91, PW),
    Row("conv3x3", 32, 32, 3, 16, 2, 4.83, CONV),
    Row("conv3x3", 16, 16, 16, 16, 1, 2.33, CONV),
    Row("add", 8, 8, 24, 24, 1, 81.3, "arm_elementwise_add_s8"),
    Row("avgpool", 16, 16, 32, 32, 2, 41.4, "arm_avgpool_s8"),
)
SEED = 20251125


def _write_if_changed(path: Path, data: bytes) -> None:
    """Keep the file (and its mtime, so cargo's cache holds) when unchanged."""
    if not path.is_file() or path.read_bytes() != data:
        write_bytes_atomic(path, data)


def _layers(r: Row, rng: np.random.Generator) -> tuple[int8.Input, list[int8.Layer], int8.Head]:
    """The model of one row: its layer under test is the last."""
    shape = (r.h, r.w, r.cin)
    if r.kind in ("conv3x3", "pointwise"):
        k, pad = (3, 1) if r.kind == "conv3x3" else (1, 0)
        spec = ConvSpec(r.cin, r.cout, kernel=k, stride=r.stride, padding=pad, relu=False)
        return int8.synthetic_model([spec], shape, seed=int(rng.integers(1 << 31)))
    head = int8.Head(np.array([-4096, 4096], np.int32), power_norm=False)
    inp = int8.Input(shape)
    zp = int(rng.integers(-10, 10))
    if r.kind == "depthwise":
        weight = rng.integers(-127, 128, (3, 3, r.cout), dtype=np.int8)
        bias = rng.integers(-2000, 2000, r.cout).astype(np.int32)
        mult, shift = spread_multipliers(rng, r.cout, 9, inp.scale, OUTPUT_SCALE)
        lo, hi = activation_range("relu6", OUTPUT_SCALE, zp)
        layer: int8.Layer = int8.DepthwiseConv2d(
            weight,
            bias,
            mult,
            shift,
            int8.Activation(zp, OUTPUT_SCALE),
            stride=(r.stride, r.stride),
            padding=(1, 1),
            act_min=lo,
            act_max=hi,
        )
        return inp, [layer], head
    if r.kind == "avgpool":
        return inp, [int8.Pool2d("avg", (2, 2), (2, 2))], head
    # add: tensor 1 (a 3x3 max pool of the input, another int8 tensor of the
    # same shape) plus the input, TFLite's scales for inputs of scale 1/255
    # and 0.03 into an output of scale 0.04.
    s1, s2, so, left = 1 / 255, 0.03, 0.04, 20
    m_in, e_in, mo, eo = add_multipliers((s1, s2), so, left)
    pool = int8.Pool2d("max", (3, 3), (1, 1), padding=(1, 1))
    add = int8.Add((0, 1), m_in, e_in, mo, eo, int8.Activation(zp, so), left)
    return inp, [pool, add], head


def bench_models(directory: Path, rows: Sequence[Row] = ROWS) -> list[tuple[Path, np.ndarray]]:
    """Write the benchmark models of `rows` and one image each into `directory`
    (removing other models there); returns (model path, image) per row."""
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for r in rows:
        i = ROWS.index(r)
        rng = np.random.default_rng(SEED + i)
        path = directory / f"{i:02d}_{r.kind}_{r.h}x{r.w}x{r.cin}_{r.cout}_s{r.stride}.safetensors"
        with tempfile.TemporaryDirectory() as tmp:
            t = Path(tmp) / "m.safetensors"
            int8.write_model(t, *_layers(r, rng))
            _write_if_changed(path, t.read_bytes())
        image = np.random.default_rng(SEED + i).integers(0, 256, (1, r.h, r.w, r.cin), np.uint8)
        buf = io.BytesIO()
        np.save(buf, image)
        _write_if_changed(images_for(path), buf.getvalue())
        out.append((path, image[0]))
    keep = {p for p, _ in out} | {images_for(p) for p, _ in out}
    for stale in [*directory.glob("*.safetensors"), *directory.glob("*.npy")]:
        if stale not in keep:
            stale.unlink()
    return out


def run_bench(
    rows: Sequence[Row] = ROWS, *, timeout: float = EMULATE_TIMEOUT_S
) -> list[dict[str, float | int | str | bool | None]]:
    """Build and run the benchmark image for `rows`; one result per row. Raises
    FirmwareError if the firmware's output differs from the host's."""
    b = board("netduinoplus2")
    directory = firmware_dir() / "target" / "semanticnn" / "bench-models"
    models = bench_models(directory, rows)
    built = build(b, bin_name="bench", env={"SEMANTICNN_BENCH_MODELS": str(directory)})
    run = run_elf(built.elf, b, timeout=timeout)
    layers = run.of("LAYER")
    if len(layers) != len(rows):
        raise FirmwareError(f"bench firmware ran {len(layers)} layers, expected {len(rows)}")
    results: list[dict[str, float | int | str | bool | None]] = []
    for r, (path, image), rec in zip(rows, models, layers, strict=True):
        want = int8.reference_tensors(int8.read_model(path), image)[-1]
        got = np.frombuffer(bytes.fromhex(rec.fields.get("hex", "")), np.int8)
        if got.shape != (want.size,) or not np.array_equal(got, want.reshape(-1)):
            raise FirmwareError(
                f"bench layer {r.name}: the firmware's output differs "
                "from the host's integer reference"
            )
        if rec.int("macs") != r.macs:
            raise FirmwareError(f"bench layer {r.name}: firmware counted {rec.int('macs')} MACs")
        instructions = run.instructions(rec.int("ticks"))
        per = instructions / r.units
        ratio = per / r.cmsis_nn
        row: dict[str, float | int | str | bool | None] = {
            "layer": r.name,
            "kind": r.kind,
            "h": r.h,
            "w": r.w,
            "cin": r.cin,
            "cout": r.cout,
            "stride": r.stride,
            "macs": r.macs,
            "unit": UNITS[r.kind],
            "units": r.units,
            "instructions": round(instructions),
            "instructions_per_unit": per,
            "cmsis_nn_kernel": r.cmsis_kernel,
            "cmsis_nn_instructions_per_unit": r.cmsis_nn,
            "ratio": ratio,
            "target_ratio": r.target,
            "met": ratio <= r.target,
            "plain_c_instructions_per_mac": r.plain_c,
        }
        results.append(row)
    return results


def format_table(results: list[dict[str, float | int | str | bool | None]]) -> str:
    lines = [
        "| layer | unit | semanticnn instr/unit | CMSIS-NN instr/unit | ratio | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['layer']} | {r['unit']} | {float(r['instructions_per_unit']):.2f} "  # type: ignore[arg-type]
            f"| {r['cmsis_nn_instructions_per_unit']} | {float(r['ratio']):.2f}x "  # type: ignore[arg-type]
            f"| ≤ {r['target_ratio']}x | {'met' if r['met'] else 'MISSED'} |"
        )
    return "\n".join(lines)
