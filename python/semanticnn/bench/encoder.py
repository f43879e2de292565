"""`semanticnn bench encoder`: the int8 Rust encoder against float32 PyTorch and numpy.

All three run the same architecture (`semanticnn.int8.default_architecture`)
on the same batch in the same run: the Rust int8 path (threads, GIL released),
PyTorch float32 with `torch.set_num_threads` equal to the Rust thread count,
and the numpy integer reference. Weights are synthetic: speed does not depend
on their values.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from semanticnn import int8


def macs_per_image(arch: list[int8.ConvSpec], shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one image through the conv stack."""
    h, w, _ = shape
    total = 0
    for s in arch:
        h = (h + 2 * s.padding - s.kernel) // s.stride + 1
        w = (w + 2 * s.padding - s.kernel) // s.stride + 1
        total += h * w * s.out_channels * s.kernel * s.kernel * s.in_channels
    return total


def _time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of `repeats` calls after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _torch_encoder(arch: list[int8.ConvSpec], head: int8.Head) -> Callable[[Any], Any]:
    """The float32 twin: the same convs and ReLUs, power normalization, nearest center."""
    import torch
    from torch import nn

    layers: list[nn.Module] = []
    for s in arch:
        layers.append(nn.Conv2d(s.in_channels, s.out_channels, s.kernel, s.stride, s.padding))
        if s.relu:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers).eval()
    centers = torch.tensor(np.asarray(head.centers, np.float32) / (1 << head.frac_bits))

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            y = net(x).flatten(1)
            if head.power_norm:
                y = y * y.pow(2).mean(1, keepdim=True).clamp_min(1e-12).rsqrt()
            return (y.unsqueeze(-1) - centers).abs().argmin(-1).to(torch.uint8)

    return run


def run_bench(
    batch: int = 256,
    threads: int | None = None,
    repeats: int = 5,
    reference_images: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    import torch

    threads = threads or os.cpu_count() or 1
    arch = int8.default_architecture()
    shape = int8.DEFAULT_INPUT_SHAPE
    spec = int8.synthetic_model(arch, shape, seed=seed)
    images = np.random.default_rng(seed).integers(0, 256, (batch, *shape), dtype=np.uint8)
    macs = macs_per_image(arch, shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "encoder.safetensors"
        int8.write_model(path, *spec)
        enc = int8.Encoder.load(path)
        kernels = int8.Encoder.kernels()
        t_kernels = {
            k: _time(lambda k=k: enc.encode(images, threads=threads, kernel=k), repeats)
            for k in kernels
        }
        t_rust = t_kernels[kernels[0]]
        n_ref = min(reference_images, batch)
        t0 = time.perf_counter()
        ref = int8.reference_encode(path, images[:n_ref])
        t_ref = (time.perf_counter() - t0) * batch / n_ref
        exact = all(
            np.array_equal(enc.encode(images[:n_ref], threads=threads, kernel=k), ref)
            for k in kernels
        )

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        run = _torch_encoder(arch, spec[2])
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).contiguous()
        t_torch = _time(lambda: run(x), repeats)
    finally:
        torch.set_num_threads(previous)

    def row(seconds: float) -> dict[str, float]:
        return {
            "seconds": seconds,
            "images_per_s": batch / seconds,
            "mac_per_s": batch * macs / seconds,
        }

    return {
        "batch": batch,
        "threads": threads,
        "macs_per_image": macs,
        "rust_int8": row(t_rust),
        "torch_float32": row(t_torch),
        "numpy_reference": row(t_ref),
        "rust_kernel": kernels[0],
        "rust_int8_by_kernel": {k: row(t) for k, t in t_kernels.items()},
        "ratio_vs_torch": t_torch / t_rust,
        "ratio_vs_numpy": t_ref / t_rust,
        "rust_equals_reference": exact,
        "targets": {"ratio_vs_torch": 1.0, "ratio_vs_numpy": 20.0},
    }


@click.command("encoder")
@click.option("--batch", default=256, show_default=True, help="Images per batch.")
@click.option("--threads", type=int, default=None, help="Threads for Rust and PyTorch [all cores].")
@click.option("--repeats", default=5, show_default=True, help="Timed runs (median).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def encoder(batch: int, threads: int | None, repeats: int, as_json: bool) -> None:
    """int8 Rust encoder vs float32 PyTorch and the numpy reference (same architecture)."""
    r = run_bench(batch=batch, threads=threads, repeats=repeats)
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    click.echo(
        f"encoder: batch {r['batch']}, {r['threads']} threads, "
        f"{r['macs_per_image'] / 1e6:.2f} MMAC/image"
    )
    rows = {f"rust_int8 ({k})": v for k, v in r["rust_int8_by_kernel"].items()}
    rows |= {name: r[name] for name in ("torch_float32", "numpy_reference")}
    for name, v in rows.items():
        click.echo(
            f"  {name:20s} {v['images_per_s']:10.0f} images/s {v['mac_per_s'] / 1e9:8.2f} GMAC/s"
        )
    click.echo(f"  rust ({r['rust_kernel']}) / torch  {r['ratio_vs_torch']:.2f}x (target >= 1.0)")
    click.echo(f"  rust ({r['rust_kernel']}) / numpy  {r['ratio_vs_numpy']:.1f}x (target >= 20)")
    click.echo(f"  rust == numpy reference: {r['rust_equals_reference']}")
