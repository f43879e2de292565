"""Training: base model, then Feature-augmentation Learning (stage 1, stage 2)."""

from semanticnn.train.config import TrainConfig
from semanticnn.train.run import load_run, train_run

__all__ = ["TrainConfig", "load_run", "train_run"]
