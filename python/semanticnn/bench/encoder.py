"""`semanticnn bench encoder`: the int8 Rust encoder against float32 PyTorch, LiteRT and
numpy.

All run the same architecture (`semanticnn.models.architecture.default_architecture`)
on the same batch in the same run: the Rust int8 path (threads, GIL released),
PyTorch float32 with `torch.set_num_threads` equal to the Rust thread count,
LiteRT's interpreter on the same model exported as a `.tflite` (its default XNNPACK
path, the same thread count, the whole batch in one call; the layers only, as the
head is no TFLite op) and the numpy integer reference. Weights are synthetic: speed
does not depend on their values.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from semanticnn import _core, int8
from semanticnn.int8 import litert
from semanticnn.models.architecture import DEFAULT_INPUT_SHAPE, ConvSpec, default_architecture

from .timing import interleaved_seconds, median_seconds, timed_once


def macs_per_image(arch: list[ConvSpec], shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one image through the conv stack."""
    h, w, _ = shape
    total = 0
    for s in arch:
        h = _core.conv_output_size(h, s.kernel, s.stride, s.padding)
        w = _core.conv_output_size(w, s.kernel, s.stride, s.padding)
        total += h * w * s.out_channels * s.kernel * s.kernel * s.in_channels
    return total


def _torch_encoder(arch: list[ConvSpec], head: int8.Head) -> Callable[[Any], Any]:
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
    arch = default_architecture()
    shape = DEFAULT_INPUT_SHAPE
    spec = int8.synthetic_model(arch, shape, seed=seed)
    images = np.random.default_rng(seed).integers(0, 256, (batch, *shape), dtype=np.uint8)
    macs = macs_per_image(arch, shape)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "encoder.safetensors"
        int8.write_model(path, *spec)
        enc = int8.Encoder.load(path)
        kernels = int8.Encoder.kernels()
        # LiteRT's default path (XNNPACK) on the same model exported as a .tflite: the
        # layers up to the latent (the head is not a TFLite op), the same threads.
        interp = litert.interpreter(int8.to_tflite(int8.read_model(path)), "xnnpack", threads)
        run_torch = _torch_encoder(arch, spec[2])
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).contiguous()
        rows: dict[str, Callable[[], object]] = {
            k: partial(enc.encode, images, threads=threads, kernel=k) for k in kernels
        }
        rows["latent"] = partial(enc.latent, images, threads=threads)
        rows["litert"] = partial(litert.run, interp, images)
        # In turns, so that the machine's changing speed hits every row alike.
        t = interleaved_seconds(rows, repeats)
        t_kernels = {k: t[k] for k in kernels}
        t_rust, t_latent, t_litert = t[kernels[0]], t["latent"], t["litert"]
        # PyTorch apart: its OpenMP threads spin on after each call, slowing the next row.
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            t_torch = median_seconds(lambda: run_torch(x), repeats)
        finally:
            torch.set_num_threads(previous)
        n_ref = min(reference_images, batch)
        ref, t_ref = timed_once(lambda: int8.reference_encode(path, images[:n_ref]))
        t_ref *= batch / n_ref
        exact = all(
            np.array_equal(enc.encode(images[:n_ref], threads=threads, kernel=k), ref)
            for k in kernels
        )
        litert_equal = float(np.mean(litert.run(interp, images) == enc.latent(images)))

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
        "litert_xnnpack": row(t_litert),
        "rust_int8_latent": row(t_latent),
        "litert_latent_equal": litert_equal,
        "rust_kernel": kernels[0],
        "rust_int8_by_kernel": {k: row(t) for k, t in t_kernels.items()},
        "ratio_vs_torch": t_torch / t_rust,
        "ratio_vs_numpy": t_ref / t_rust,
        "ratio_vs_litert": t_litert / t_latent,
        "ratio_vs_litert_with_head": t_litert / t_rust,
        "rust_equals_reference": exact,
        "targets": {"ratio_vs_torch": 1.0, "ratio_vs_numpy": 20.0, "ratio_vs_litert": 1.0},
    }
