"""The training configuration (saved as `config.json` in the run folder)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    dataset: str = "mnist5k"
    arch: str = "resnet"
    # Latent channels; 0 takes the last conv of `semanticnn.int8.default_architecture()`.
    latent_channels: int = 0
    levels: int = 8
    # Power-normalize the latent before the soft quantizer (measured better on the
    # validation split than without; docs/evaluation.md).
    power_norm: bool = True
    # Symbol indices go on the air Gray-mapped (the frame's gray flag; measured no
    # better on the validation split, docs/evaluation.md).
    gray: bool = False
    batch_size: int = 64
    base_epochs: int = 8
    stage1_epochs: int = 4
    stage2_epochs: int = 8
    lr: float = 2e-3
    # Training images of the base model and of stage 2 shift by up to this many pixels.
    shift: int = 2
    # BER per batch: 0 with probability `p_clean`, else log-uniform in [ber_min, ber_max].
    ber_min: float = 1e-4
    ber_max: float = 1e-1
    p_clean: float = 0.2
    # Draw the BER per sample (a batch mixes BERs) rather than once per batch.
    ber_per_sample: bool = True
    # XAI: integrated-gradients steps, and the share of the stage-1 loss they weight.
    ig_steps: int = 4
    xai_weight: float = 0.5
    # Stage 2: CE + distill_alpha * T^2 * KL(teacher || student).
    distill_alpha: float = 0.5
    distill_temperature: float = 4.0
    qat: bool = True
    # Also give the decoder each received value's posterior mean given the BER.
    soft_demap: bool = True
    seed: int = 0
    # Share of the training images held out as the validation split (design choices are
    # made on it; the test set is for final figures only).
    val_fraction: float = 0.1
    # Limit every epoch to this many batches (0: no limit); for tests and smoke runs.
    max_steps: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.ber_min <= self.ber_max <= 0.5:
            raise ValueError(
                f"need 0 <= ber_min <= ber_max <= 0.5, got {self.ber_min}, {self.ber_max}"
            )
        if not 0 <= self.p_clean <= 1:
            raise ValueError(f"p_clean must be in [0, 1], got {self.p_clean}")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        if self.shift < 0:
            raise ValueError(f"shift must be >= 0, got {self.shift}")
        for name in ("batch_size", "levels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(json.loads(path.read_text()))
