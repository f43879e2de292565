"""The records of `report.json` and `study.json` (docs/report-format.md), typed.

They stay JSON objects (a report is written and read as is); these types say which
keys each holds, so that code reading a report is checked.
"""

from __future__ import annotations

from typing import Any, TypedDict

from typing_extensions import NotRequired


class LinkRecord(TypedDict):
    kind: str  # "bsc", "gilbert_elliott" or "lossy"
    label: str
    mean_ber: float
    # Gilbert-Elliott's parameters
    p_gb: NotRequired[float]
    p_bg: NotRequired[float]
    ber_good: NotRequired[float]
    ber_bad: NotRequired[float]
    # a lossy link's packet losses
    p_erasure: NotRequired[float]
    p_truncation: NotRequired[float]


class SystemRecord(TypedDict):
    """One system's figures, one value per link in the report's link order."""

    label: str
    kind: str  # "reference", "unprotected", "digital" or "semantic"
    payload_bytes: float | None  # an image codec's: the mean
    frame_bytes: float | None
    accuracy: list[float]  # delivered: a lost frame counts as wrong
    delivery: list[float]
    payload_accuracy: list[float] | None
    bytes_on_air: list[float]  # mean per inference, retransmissions included
    wrong_headers: int
    compression_on_air: NotRequired[float | None]
    compression_payload: NotRequired[float | None]
    accuracy_ci95: NotRequired[list[float] | None]  # a study's half-widths


class TargetRecord(TypedDict):
    target: str
    value: float
    met: bool


class PairedRecord(TypedDict):
    """A paired difference over seeds (same channels), per link."""

    mean: list[float]
    ci95: list[float] | None


class Report(TypedDict):
    format: str
    version: int
    dataset: str
    split: str
    samples: int
    repeats: int
    retransmissions: int
    links: list[LinkRecord]
    split_shape: list[int]
    latent_shape: list[int]
    bits_per_symbol: int
    gray: bool
    power_norm: bool
    systems: dict[str, SystemRecord]
    config: dict[str, Any]  # TrainConfig.to_dict(); a study's seed is None
    targets: list[TargetRecord]
    train_seconds: NotRequired[dict[str, float]]
    # added by `demo`
    export_symbol_match: NotRequired[float]
    demo_seconds: NotRequired[dict[str, float]]
    # a study's
    seeds: NotRequired[list[int]]
    paired: NotRequired[dict[str, PairedRecord]]
