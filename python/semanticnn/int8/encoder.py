"""The Rust encoder: a model file loaded, checked and run by the core (`semanticnn._core`)."""

from __future__ import annotations

import os

import numpy as np

from semanticnn import _core
from semanticnn.errors import one_line


class Encoder:
    """A model file loaded and checked by the Rust core; `encode` runs it on threads."""

    def __init__(self, inner: _core.Int8Encoder) -> None:
        self._inner = inner

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Encoder:
        """Read a model file; a bad file raises `ModelError` (OSError if unreadable),
        its message naming the file."""
        where = os.fspath(path)
        try:
            return cls(_core.Int8Encoder.load(where))
        except _core.ModelError as e:
            raise _core.ModelError(f"{where}: {one_line(e)}") from None
        except OSError as e:
            message = f"{where}: cannot read the model file ({one_line(e)})"
            raise type(e)(message) from None  # the same subclass: FileNotFoundError, ...

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one uint8 image."""
        return self._inner.input_shape

    @property
    def num_symbols(self) -> int:
        """Symbols per image (S)."""
        return self._inner.num_symbols

    @property
    def levels(self) -> int:
        """Number of centers L; symbols are below L and take log2(L) bits."""
        return self._inner.levels

    @property
    def bits(self) -> int:
        return self.levels.bit_length() - 1

    @property
    def gray(self) -> bool:
        """Whether the symbols are Gray-mapped center indices (the head's `gray`)."""
        return self._inner.gray

    @staticmethod
    def kernels() -> list[str]:
        """Conv kernels this CPU runs, fastest first (e.g. ["avx512vnni", "avx2",
        "im2col"])."""
        return _core.Int8Encoder.kernels()

    def encode(
        self, images: np.ndarray, *, threads: int | None = None, kernel: str | None = None
    ) -> np.ndarray:
        """uint8 (N, H, W, C) images -> uint8 (N, S) symbols.

        Releases the GIL; the batch is split over `threads` threads (default:
        all cores). `kernel` picks the conv kernel (one of `kernels()`;
        default the fastest). The result depends on neither.
        """
        images = self._check(images, threads)
        out = np.empty((images.shape[0], self.num_symbols), np.uint8)
        self._inner.encode_into(images.reshape(-1), out.reshape(-1), threads or 0, kernel)
        return out

    def latent(
        self, images: np.ndarray, *, threads: int | None = None, kernel: str | None = None
    ) -> np.ndarray:
        """uint8 (N, H, W, C) images -> the int8 latents (N, S): the last tensor in
        NHWC order, before the head (what TFLite gives for the exported encoder).
        Arguments as `encode`."""
        images = self._check(images, threads)
        out = np.empty((images.shape[0], self.num_symbols), np.int8)
        self._inner.latent_into(images.reshape(-1), out.reshape(-1), threads or 0, kernel)
        return out

    def _check(self, images: np.ndarray, threads: int | None) -> np.ndarray:
        """`images` as a C-contiguous batch of this model's input, or the error naming
        what is wrong."""
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
            raise TypeError(f"images must be a uint8 numpy array, got {_describe(images)}")
        if images.ndim != 4 or images.shape[1:] != self.input_shape:
            raise ValueError(
                f"images must have shape (N, {', '.join(map(str, self.input_shape))})"
                f", got {images.shape}"
            )
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        return np.ascontiguousarray(images)


def _describe(x: object) -> str:
    return f"{x.dtype} array" if isinstance(x, np.ndarray) else type(x).__name__
