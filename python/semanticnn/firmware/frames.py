"""Frames on the host: the same bytes the firmware emits, from the PyO3
encoder. A frame is one image's wire frame (`semanticnn.frame`): the
protected header (model id 0, sequence number = the image's index), a pilot
of `PILOT_BITS` bits and the symbols packed at `log2(levels)` bits each;
frames are written back to back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import frame, int8
from .build import firmware_dir

# As in firmware-rs/src/bin/encoder.rs (the conformance test holds them equal).
PILOT_BITS = 64
MODEL_ID = 0


def default_model() -> Path:
    """The model `firmware build` bakes when none is given (the build script's
    choice): the trained run's export when present, else the golden test model."""
    repo = firmware_dir().parent
    trained = repo / "runs" / "mnist5k" / "encoder.safetensors"
    return trained if trained.is_file() else repo / "tests" / "vectors" / "default.safetensors"


def images_for(model: Path) -> Path:
    """The test images baked with `model`: `<stem>_images.npy` beside it."""
    return model.with_name(f"{model.stem}_images.npy")


def host_frames(model: Path, images: np.ndarray, *, threads: int | None = None) -> list[bytes]:
    """One frame per uint8 (N, H, W, C) image, encoded by the Rust core on the host."""
    encoder = int8.Encoder.load(model)
    symbols = encoder.encode(images, threads=threads)
    return [
        frame.encode(row, encoder.bits, model_id=MODEL_ID, seq=i % 65536, pilot_bits=PILOT_BITS)
        for i, row in enumerate(symbols)
    ]
