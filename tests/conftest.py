"""Shared fixtures: a tiny dataset and one tiny finished training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from semanticnn.train import train_run
from semanticnn.train.config import TrainConfig

TINY = {  # a few steps of every phase
    "base_epochs": 1,
    "stage1_epochs": 1,
    "stage2_epochs": 2,
    "batch_size": 16,
    "max_steps": 2,
    "ig_steps": 2,
}


def _tiny_npz(path: Path, n: int = 80) -> str:
    """MNIST-shaped images whose class is the row of a bright bar (learnable in a few steps)."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, n)
    x = (rng.random((n, 28, 28)) * 60).astype(np.uint8)
    for i, c in enumerate(y):
        x[i, 4 + 6 * c : 8 + 6 * c, 4:24] = 255
    np.savez(path, x=x, y=y)
    return f"npz:{path}"


@pytest.fixture(scope="session")
def tiny() -> dict[str, int]:
    """TrainConfig overrides for a run of seconds."""
    return dict(TINY)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _tiny_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory, dataset: str) -> Path:
    out = tmp_path_factory.mktemp("run") / "r"
    train_run(TrainConfig(dataset=dataset, **TINY), out)
    return out
