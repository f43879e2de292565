"""Type stubs of the Rust extension `semanticnn._core` (checked by mypy.stubtest)."""

import os
import pathlib
from typing import Any, final

import numpy as np
import numpy.typing as npt

_U8 = npt.NDArray[np.uint8]
_F64 = npt.NDArray[np.float64]
_U64 = npt.NDArray[np.uint64]

__version__: str
__all__ = [
    "BAKED_IMAGES",
    "DEFAULT_RUN",
    "ENCODER_FILE",
    "FRAME_DEVICE_MODEL_ID",
    "FRAME_DEVICE_PILOT_BITS",
    "FRAME_HEADER_BYTES",
    "FRAME_MAX_COUNT",
    "FRAME_MAX_MODEL_ID",
    "FRAME_MAX_PILOT_BITS",
    "FRAME_MAX_SEQ",
    "FRAME_VERSION",
    "IMAGES_SUFFIX",
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "MODEL_FORMAT_VERSION_SYMMETRIC",
    "MODEL_MAX_FILE_BYTES",
    "MODEL_MAX_LAYERS",
    "MODEL_MAX_OPS",
    "RTT_RAM",
    "STREAM_MAGIC",
    "ChannelError",
    "CodecError",
    "FrameError",
    "Int8Encoder",
    "ModelError",
    "PackError",
    "__version__",
    "ber_awgn",
    "bsc_inplace",
    "bsc_rows_inplace",
    "clock_plan",
    "conv_output_size",
    "default_model",
    "erasures_into",
    "frame_decode",
    "frame_decode_batch",
    "frame_encode",
    "frame_encode_batch",
    "frame_encoded_len",
    "gilbert_elliott_inplace",
    "gilbert_elliott_mean_ber",
    "gilbert_elliott_rows_inplace",
    "gray_decode_inplace",
    "gray_encode_inplace",
    "memory_region",
    "pack_into",
    "packed_len",
    "truncated_len",
    "truncations_into",
    "unpack_into",
]

class CodecError(ValueError): ...
class PackError(CodecError): ...
class ChannelError(CodecError): ...
class FrameError(CodecError): ...
class ModelError(ValueError): ...

# bits
def pack_into(symbols: _U8, nbits: int, out: _U8, threads: int = 0) -> int: ...
def unpack_into(packed: _U8, nbits: int, out: _U8, threads: int = 0) -> None: ...
def packed_len(count: int, nbits: int) -> int: ...
def gray_encode_inplace(symbols: _U8) -> None: ...
def gray_decode_inplace(symbols: _U8) -> None: ...

# channel
def bsc_inplace(buf: _U8, ber: float, seed: int, threads: int = 0) -> None: ...
def gilbert_elliott_inplace(
    buf: _U8,
    p_gb: float,
    p_bg: float,
    ber_good: float,
    ber_bad: float,
    seed: int,
    threads: int = 0,
) -> None: ...
def bsc_rows_inplace(buf: _U8, row_len: int, bers: _F64, seeds: _U64, threads: int = 0) -> None: ...
def gilbert_elliott_rows_inplace(
    buf: _U8,
    row_len: int,
    p_gb: _F64,
    p_bg: _F64,
    ber_good: _F64,
    ber_bad: _F64,
    seeds: _U64,
    threads: int = 0,
) -> None: ...
def gilbert_elliott_mean_ber(p_gb: float, p_bg: float, ber_good: float, ber_bad: float) -> float:
    """Mean BER of the Gilbert-Elliott channel (`ber_good` when p_gb = p_bg = 0)."""

def ber_awgn(snr_db: float, modulation: str) -> float: ...
def erasures_into(out: npt.NDArray[np.bool_], p_loss: float, seed: int) -> None: ...
def truncated_len(length: int, p_cut: float, seed: int, index: int) -> int: ...
def truncations_into(lens: npt.NDArray[np.uint64], p_cut: float, seed: int) -> None: ...

# frame
FRAME_VERSION: int
FRAME_HEADER_BYTES: int
FRAME_MAX_MODEL_ID: int
FRAME_MAX_SEQ: int
FRAME_MAX_COUNT: int
FRAME_MAX_PILOT_BITS: int
FRAME_DEVICE_PILOT_BITS: int
FRAME_DEVICE_MODEL_ID: int

def frame_encode(
    symbols: _U8,
    nbits: int,
    model_id: int,
    seq: int,
    gray: bool,
    pilot_bits: int,
    mapped: bool,
) -> bytes: ...
def frame_encode_batch(
    symbols: _U8,
    count: int,
    nbits: int,
    model_id: int,
    seqs: npt.NDArray[np.uint16],
    gray: bool,
    pilot_bits: int,
    mapped: bool,
    out: _U8,
) -> None: ...
def frame_decode(
    buf: bytes,
) -> tuple[_U8, tuple[int, int, int, int, bool, int, int, int, float, float | None]]: ...
def frame_decode_batch(
    frames: _U8, row_len: int, lengths: npt.NDArray[np.uint64]
) -> tuple[
    npt.NDArray[np.bool_],
    list[str | None],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64],
    _U8,
    int,
]: ...
def frame_encoded_len(count: int, nbits: int, pilot_bits: int) -> int: ...

# int8 encoder (semanticnn.int8.Encoder wraps it)
def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """`(size + 2*padding - kernel) // stride + 1`; ValueError where there is no output."""

@final
class Int8Encoder:
    @staticmethod
    def load(path: str) -> Int8Encoder: ...
    @staticmethod
    def from_bytes(data: bytes) -> Int8Encoder: ...
    @property
    def input_shape(self) -> tuple[int, int, int]: ...
    @property
    def num_symbols(self) -> int: ...
    @property
    def levels(self) -> int: ...
    @property
    def gray(self) -> bool: ...
    @staticmethod
    def kernels() -> list[str]: ...
    def encode_into(
        self, images: _U8, out: _U8, threads: int = 0, kernel: str | None = None
    ) -> None: ...
    def latent_into(
        self, images: _U8, out: npt.NDArray[np.int8], threads: int = 0, kernel: str | None = None
    ) -> None: ...

# what the firmware and the host tools share
BAKED_IMAGES: int
"""Most test images baked into the firmware."""
IMAGES_SUFFIX: str
"""The test images of `<stem>.safetensors` are `<stem>` + this suffix, beside it."""
DEFAULT_RUN: str
"""The default run folder, relative to the repository root."""
ENCODER_FILE: str
"""The file name of a run's exported int8 encoder."""
MODEL_FORMAT: str
"""The model file's `format` metadata."""
MODEL_FORMAT_VERSION: str
"""The model file's newest `format_version` (a window's padding may give each side)."""
MODEL_FORMAT_VERSION_SYMMETRIC: str
"""The `format_version` of a model file whose every padding is symmetric."""
MODEL_MAX_FILE_BYTES: int
MODEL_MAX_LAYERS: int
MODEL_MAX_OPS: int
"""Most layers a model file holds."""
RTT_RAM: int
"""Bytes of RAM the RTT buffers take on the boards with a debug probe."""
STREAM_MAGIC: bytes
"""The magic bytes that open an image stream header (`SNNI`)."""

def default_model(repo: str | os.PathLike[str]) -> pathlib.Path:
    """The model the firmware bakes when none is given, under repository root `repo`."""

def clock_plan(name: str) -> dict[str, Any]:
    """Board `name`'s clock plan: sysclk_hz, pll ((m, n, p, q) or None),
    flash_wait_states, overdrive, apb1_div, apb2_div; ValueError for an unknown board."""

def memory_region(memory_x: str, name: str) -> tuple[int, int]:
    """(ORIGIN, LENGTH) in bytes of region `name` in the text of a memory.x."""
