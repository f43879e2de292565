"""Export the trained int8 encoder to a model file, and check the Rust encoder against it.

The file (docs/model-format.md) is written by `semanticnn.int8.write_model` from the
same integer tables the fake-quantized training forward uses
(`SemanticEncoder.int8_model`: every node's `int8_layer`, with its `inputs`, and the
integer head).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from semanticnn import bits, int8
from semanticnn.fsutil import atomic_writer
from semanticnn.int8 import litert
from semanticnn.int8.tflite_file import HEAD_METADATA, Imported
from semanticnn.models.encoder import SemanticEncoder
from semanticnn.paths import BAKED_IMAGES, images_for
from semanticnn.quant.layers import INPUT_SCALE, INPUT_ZERO_POINT


def export_encoder(
    enc: SemanticEncoder, input_shape_chw: tuple[int, int, int], path: Path, gray: bool = False
) -> None:
    """Write the int8 model file of `enc` for images of (C, H, W) `input_shape_chw`;
    with `gray` its head emits Gray-mapped indices, as the run sends them on the air
    (the firmware then sets the frame's gray flag)."""
    c, h, w = input_shape_chw
    layers, head = enc.int8_model()
    head = dataclasses.replace(head, gray=gray)
    int8.write_model(path, int8.Input((h, w, c), INPUT_ZERO_POINT, INPUT_SCALE), layers, head)


def to_uint8_nhwc(x: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] (N, C, H, W) -> the uint8 (N, H, W, C) pixels the device sees."""
    return torch.round(x * 255).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def write_test_images(model: Path, x: torch.Tensor) -> Path:
    """Write the first test images beside `model`, as uint8 NHWC, for the firmware to bake."""
    path = images_for(model)

    with atomic_writer(path) as f:
        np.save(f, to_uint8_nhwc(x[:BAKED_IMAGES]))
    return path


@dataclass(frozen=True)
class ExportCheck:
    values: int
    matching: int

    @property
    def fraction(self) -> float:
        return self.matching / max(self.values, 1)


CHECK_BATCH = 256


def check_export(enc: SemanticEncoder, path: Path, x: torch.Tensor) -> ExportCheck:
    """Compare the Rust encoder's symbols on `x` with the fake-quant PyTorch symbols
    (Gray-mapped when the model's head maps them)."""
    enc.eval()
    with torch.no_grad():  # in batches: the exact integer path holds int64 tensors
        sym = torch.cat([enc(x[i : i + CHECK_BATCH])[1] for i in range(0, len(x), CHECK_BATCH)])
    torch_sym = sym.permute(0, 2, 3, 1).reshape(len(x), -1).to(torch.uint8).numpy()
    rust = int8.Encoder.load(path)
    if rust.gray:
        torch_sym = bits.gray_encode(torch_sym)
    rust_sym = rust.encode(to_uint8_nhwc(x))
    if rust_sym.shape != torch_sym.shape:
        raise ValueError(f"symbol shapes differ: Rust {rust_sym.shape}, PyTorch {torch_sym.shape}")
    return ExportCheck(torch_sym.size, int((rust_sym == torch_sym).sum()))


def export_tflite(
    model_file: Path, path: Path, images: np.ndarray
) -> tuple[int, ExportCheck, dict[str, ExportCheck | None]]:
    """Write the `.tflite` of the model file `model_file` (its layers up to the int8
    latent, the head in the metadata) to `path`, once LiteRT's reference kernels have
    reproduced the Rust encoder's int8 latents on uint8 NHWC `images` (a file that does
    not is not written: ValueError). Returns its size in bytes, that check, and the
    same count for LiteRT's optimized and XNNPACK kernels, which may round ties their
    own way (None where they refuse the model). ImportError where LiteRT is not
    installed, before anything is written."""
    data = int8.to_tflite(int8.read_model(model_file))
    want = int8.Encoder.load(model_file).latent(images)
    got = litert.run(litert.interpreter(data, "reference"), images)
    check = ExportCheck(want.size, int((got.reshape(want.shape) == want).sum()))
    if check.matching != check.values:
        raise ValueError(
            f"LiteRT's reference kernels reproduce only {check.matching}/{check.values} int8 "
            "latent values of the Rust encoder: not written"
        )
    with atomic_writer(path) as f:
        f.write(data)
    peers: dict[str, ExportCheck | None] = {}
    for kernels in ("optimized", "xnnpack"):
        try:
            got = litert.run(litert.interpreter(data, kernels), images)
        except RuntimeError:  # LiteRT's "failed to prepare"
            peers[kernels] = None
            continue
        peers[kernels] = ExportCheck(want.size, int((got.reshape(want.shape) == want).sum()))
    return len(data), check, peers


def import_tflite(
    source: Path, imported: Imported, path: Path, head: int8.Head | None = None
) -> tuple[int8.Model, bool]:
    """Write the int8 TFLite encoder `imported` (read from `source`) as the model file
    `path`, with `head`, or the head its metadata carries; (the model written, whether
    the head came from the metadata)."""
    from_metadata = head is None
    head = head or imported.head
    if head is None:
        raise int8.ModelError(
            f"{source}: it carries no {HEAD_METADATA} metadata: give the centers (--centers)"
        )
    int8.write_model(path, imported.input, imported.layers, head)
    return int8.read_model(path), from_metadata
