"""Where the project's files are by default, from the core crate (the firmware build
reads the same constants): the run folder, its exported model, the test images baked
beside a model (and the host-only name of the exported `.tflite`)."""

from __future__ import annotations

from pathlib import Path

from semanticnn import _core

DEFAULT_RUN = Path(_core.DEFAULT_RUN)
ENCODER_FILE: str = _core.ENCODER_FILE
BAKED_IMAGES: int = _core.BAKED_IMAGES
IMAGES_SUFFIX: str = _core.IMAGES_SUFFIX
TFLITE_FILE = "encoder.tflite"  # `export --format tflite`'s default name in a run folder


def images_for(model: Path) -> Path:
    """The test images baked with `model`: `<stem>_images.npy` beside it."""
    return model.with_name(model.stem + IMAGES_SUFFIX)
