"""Training: base model, then Feature-augmentation Learning (stage 1, stage 2).

`semanticnn.train.config` is plain data and imports without torch (the CLI builds its
options from it); the training loop loads on first use (`from semanticnn.train import
train_run`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from semanticnn.train.config import TrainConfig

if TYPE_CHECKING:
    from semanticnn.train.run import load_run, train_run

__all__ = ["TrainConfig", "load_run", "train_run"]


def __getattr__(name: str) -> Any:
    if name in ("load_run", "train_run"):
        return getattr(importlib.import_module(f"{__name__}.run"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
