"""The array dataset every loader returns, the fixed train/test split and the
validation hold-out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArrayDataset:
    """Images (N, C, H, W) float32 in [0, 1] and int64 labels."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self) -> None:
        if self.x.ndim != 4:
            raise ValueError(f"x must be (N, C, H, W), got shape {self.x.shape}")
        if self.y.shape != (self.x.shape[0],):
            raise ValueError(f"y must be ({self.x.shape[0]},), got shape {self.y.shape}")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        c, h, w = self.x.shape[1:]
        return int(c), int(h), int(w)


@dataclass(frozen=True)
class Splits:
    train: ArrayDataset
    test: ArrayDataset
    num_classes: int
    name: str


def to_float_images(x: np.ndarray, layout: str) -> np.ndarray:
    """uint8-range images in `layout` ("NHWC", "NCHW" or "NHW") to float32 NCHW in [0, 1]."""
    x = np.asarray(x)
    if layout == "NHW":
        x = x[:, None]
    elif layout == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    elif layout != "NCHW":
        raise ValueError(f"unknown layout {layout!r}")
    scale = 255.0 if (x.dtype == np.uint8 or float(np.max(x, initial=0)) > 1.0) else 1.0
    return np.ascontiguousarray(x, dtype=np.float32) / np.float32(scale)


def fixed_split(
    x: np.ndarray, y: np.ndarray, n_test: int, seed: int = 0
) -> tuple[ArrayDataset, ArrayDataset]:
    """A reproducible split: a seeded permutation, the last `n_test` samples are the test set."""
    n = len(y)
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be in 1..{n - 1}, got {n_test}")
    order = np.random.default_rng(seed).permutation(n)
    tr, te = order[: n - n_test], order[n - n_test :]
    y = np.asarray(y, dtype=np.int64)
    return ArrayDataset(x[tr], y[tr]), ArrayDataset(x[te], y[te])


def holdout(
    data: ArrayDataset, fraction: float, seed: int = 0
) -> tuple[ArrayDataset, ArrayDataset]:
    """(fit, validation): a fixed seeded `fraction` of a training set held out for design
    choices, so that the test set is used for final figures only."""
    n_val = max(1, round(fraction * len(data)))
    return fixed_split(data.x, data.y, n_val, seed)
