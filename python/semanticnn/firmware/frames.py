"""Frames on the host: the same bytes the firmware emits, from the PyO3
encoder. A frame is one image's wire frame (`semanticnn.frame`): the
protected header (model id 0, sequence number = the image's index mod 1024,
the Gray flag set when the model's head Gray-maps its symbols), a pilot of
`PILOT_BITS` bits (the core's device default, none: the edge estimates the
BER from the header's Golay corrections) and the symbols as the head emits
them, packed at `log2(levels)` bits each; frames are written back to back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import _core, frame, int8
from .build import firmware_dir

# The firmware reads the same core constants (firmware-rs/src/bin/encoder.rs).
PILOT_BITS = frame.DEVICE_PILOT_BITS
MODEL_ID = frame.DEVICE_MODEL_ID


def default_model() -> Path:
    """The model `firmware build` bakes when none is given (the build script's
    choice, `semanticnn_core::firmware::default_model`): the default run's export when
    present, else the golden test model."""
    return _core.default_model(firmware_dir().parent)


def host_frames(model: Path, images: np.ndarray, *, threads: int | None = None) -> list[bytes]:
    """One frame per uint8 (N, H, W, C) image, encoded by the Rust core on the host."""
    encoder = int8.Encoder.load(model)
    symbols = encoder.encode(images, threads=threads)
    seqs = np.arange(len(symbols)) % (frame.MAX_SEQ + 1)
    frames = frame.encode_batch(
        symbols,
        encoder.bits,
        model_id=MODEL_ID,
        seqs=seqs,
        gray=encoder.gray,
        pilot_bits=PILOT_BITS,
        mapped=True,  # the head's symbols are already Gray-mapped when it says so
    )
    return [row.tobytes() for row in frames]
