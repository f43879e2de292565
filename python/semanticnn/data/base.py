"""The array dataset every loader returns, the fixed train/test split and the
validation hold-out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Most classes a dataset may have: far above any real one, far below what would make
# the classifier's last layer exhaust memory (a label of 2**40 otherwise asks for it).
MAX_CLASSES = 100_000


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

    def __post_init__(self) -> None:
        if self.train.shape != self.test.shape:
            raise ValueError(
                f"{self.name}: train images are {self.train.shape}, test images "
                f"{self.test.shape} (C, H, W); they must match"
            )
        if not 2 <= self.num_classes <= MAX_CLASSES:
            raise ValueError(
                f"{self.name}: {self.num_classes} classes; a classifier needs 2 to {MAX_CLASSES}"
            )
        for part, data in (("train", self.train), ("test", self.test)):
            if len(data.y) and int(data.y.max()) >= self.num_classes:
                raise ValueError(
                    f"{self.name}: {part} label {int(data.y.max())} is not below "
                    f"the {self.num_classes} classes"
                )


def check_labels(y: object, count: int, where: str) -> np.ndarray:
    """`y` as int64 class labels of `count` images, each in 0..MAX_CLASSES; a ValueError
    naming `where` and the first bad label otherwise."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{where}: labels must be a 1-D array, got shape {y.shape}")
    if y.shape[0] != count:
        raise ValueError(f"{where}: {y.shape[0]} labels for {count} images; one each")
    if not (np.issubdtype(y.dtype, np.integer) and not np.issubdtype(y.dtype, np.bool_)):
        raise ValueError(f"{where}: labels must be integers, got dtype {y.dtype}")
    bad = np.flatnonzero((y < 0) | (y >= MAX_CLASSES))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{where}: label {y[i]} at index {i} is not in 0..{MAX_CLASSES - 1}")
    return y.astype(np.int64)


def check_images(x: object, where: str) -> np.ndarray:
    """`x` as a non-empty numeric array of finite pixel values in 0..255; a ValueError
    naming `where` and the first bad image otherwise."""
    x = np.asarray(x)
    if x.ndim < 3 or x.shape[0] == 0 or 0 in x.shape:
        raise ValueError(f"{where}: images must be a non-empty array of images, got {x.shape}")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"{where}: images must be numbers, got dtype {x.dtype}")
    if x.dtype != np.uint8:
        flat = x.reshape(x.shape[0], -1)
        # NaN fails both comparisons, so this also finds NaN and infinite values.
        bad = np.flatnonzero(~((flat >= 0) & (flat <= 255)).all(axis=1))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{where}: image {i} has values outside 0..255 (or NaN): "
                f"{flat[i].min()}..{flat[i].max()}"
            )
    return x


def to_float_images(x: np.ndarray, layout: str, where: str = "images") -> np.ndarray:
    """uint8-range images in `layout` ("NHWC", "NCHW" or "NHW") to float32 NCHW in [0, 1]."""
    x = check_images(x, where)
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
        raise ValueError(f"{n} images cannot be split into train and {n_test} for testing")
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
