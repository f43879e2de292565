"""The training configuration (saved as `config.json` in the run folder)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semanticnn.models.architecture import check_model

# Where training runs: `auto` takes the GPU where one exists.
DEVICES = ("auto", "cpu", "cuda")


def _field(default: Any, help: str) -> Any:
    """A config field whose `help` is the CLI option's help text (`semanticnn train --help`)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    dataset: str = _field(
        "mnist5k",
        "Dataset: mnist5k or digits (embedded), or cifar10:PATH, cifar100:PATH, folder:PATH, "
        "npz:PATH.",
    )
    model: str = _field(
        "tiny",
        "Base model (models.zoo): tiny, mobilenetv2-0.35, mobilenetv2-0.5, resnet8, resnet18.",
    )
    split: str = _field(
        "",
        "Split point: the head up to it runs on the device (tiny: conv2; mobilenetv2: "
        "block1..block4, default block3; resnet: stem or stage1, default stage1).",
    )
    tail: str = _field("resnet", "Edge tail of the tiny model: resnet or mobilenetv2.")
    latent_channels: int = _field(
        0, "Channels of the transmitted latent (0: 3, models.encoder.DEFAULT_LATENT_CHANNELS)."
    )
    levels: int = _field(8, "Soft-quantizer levels per feature (bits on air: ceil(log2)).")
    power_norm: bool = _field(
        True,
        "Power-normalize the latent before the soft quantizer (better on the validation "
        "split; docs/evaluation.md).",
    )
    gray: bool = _field(
        False,
        "Send symbol indices Gray-mapped (the frame's gray flag; no better on the validation "
        "split).",
    )
    batch_size: int = _field(64, "Training batch size.")
    base_epochs: int = _field(8, "Epochs of the base classifier.")
    stage1_epochs: int = _field(4, "Epochs of stage 1 (compressor, XAI-weighted).")
    stage2_epochs: int = _field(8, "Epochs of stage 2 (BER-aware decoder, distillation, QAT).")
    lr: float = _field(2e-3, "Adam learning rate (cosine schedule per stage).")
    shift: int = _field(
        2, "Training images of the base model and of stage 2 shift by up to this many pixels."
    )
    ber_min: float = _field(1e-4, "Smallest training BER (log-uniform in [ber-min, ber-max]).")
    ber_max: float = _field(1e-1, "Largest training BER.")
    p_clean: float = _field(0.2, "Share of training draws sent with no bit errors (BER 0).")
    ber_per_sample: bool = _field(
        True, "Draw the training BER per sample (a batch mixes BERs), not once per batch."
    )
    ig_steps: int = _field(4, "Integrated-gradients steps of the XAI importance (stage 1).")
    xai_weight: float = _field(0.5, "Share of the stage-1 loss the XAI importance weights.")
    distill_alpha: float = _field(
        0.5, "Stage 2 loss: CE + alpha * T^2 * KL(teacher || student); this is alpha."
    )
    distill_temperature: float = _field(4.0, "Distillation temperature T.")
    qat: bool = _field(True, "Quantization-aware training of the int8 device encoder.")
    soft_demap: bool = _field(
        True, "Also give the decoder each received value's posterior mean given the BER."
    )
    seed: int = _field(0, "Seed of weights, data order and training channels.")
    val_fraction: float = _field(
        0.1,
        "Share of the training images held out as the validation split (design choices "
        "are made on it; the test set is for final figures).",
    )
    max_steps: int = _field(
        0, "Limit every epoch to this many batches (0: no limit); for tests and smoke runs."
    )

    def __post_init__(self) -> None:
        if not 0 <= self.ber_min <= self.ber_max <= 0.5:
            raise ValueError(
                f"need 0 <= ber_min <= ber_max <= 0.5, got {self.ber_min}, {self.ber_max}"
            )
        if not 0 <= self.p_clean <= 1:
            raise ValueError(f"p_clean must be in [0, 1], got {self.p_clean}")
        if not 0 < self.val_fraction < 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5), got {self.val_fraction}")
        check_model(self.model, self.split, self.tail)
        if self.shift < 0:
            raise ValueError(f"shift must be >= 0, got {self.shift}")
        for name in ("batch_size", "levels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        if "arch" in d:  # what `tail` was called before the model zoo
            d = {("tail" if k == "arch" else k): v for k, v in d.items()}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        return cls.from_dict(json.loads(path.read_text()))
