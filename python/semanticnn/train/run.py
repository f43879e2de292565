"""A training run: phases in order, an atomic checkpoint after every epoch, `--resume`.

Phases: the base model; then for the BER-aware SemanticNN and for the BER-blind
ablation, stage 1 (XAI-weighted denoising autoencoder) and stage 2 (task-oriented).
The ablation is paired: both variants start from the same weights and see the same
batches, BERs and channel realisations; they differ only in being told the BER.
The run folder holds `config.json`, `checkpoint.pt` (while training) and `model.pt`
(when finished). Both `.pt` files hold only tensors, numbers, strings, lists and dicts,
and are read with `torch.load(weights_only=True)`: a run folder from someone else can
hold bad weights, never code that runs when it loads.
"""

from __future__ import annotations

import json
import math
import pickle
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypedDict

import torch
from torch import nn

from semanticnn.data import Splits, holdout, load_dataset
from semanticnn.errors import one_line
from semanticnn.fsutil import atomic_writer, write_text_atomic
from semanticnn.models import BaseClassifier, SemanticNN, build_base
from semanticnn.models.zoo import ModelSpec, model_spec, split_shape
from semanticnn.seeds import derive_seed
from semanticnn.train import ddp, stages
from semanticnn.train.config import TrainConfig

Variant = Literal["aware", "blind"]
VARIANTS: tuple[Variant, ...] = ("aware", "blind")
# (stage, what it trains): the base model, then each SemanticNN variant's two stages.
PHASES: tuple[tuple[str, Variant | Literal["base"]], ...] = (
    ("base", "base"),
    ("stage1", "aware"),
    ("stage2", "aware"),
    ("stage1", "blind"),
    ("stage2", "blind"),
)


StateDict = dict[str, Any]

# The tag and version of `checkpoint.pt` and `model.pt`. Version 2: weights-only files
# (version 1 had no tag and needed unpickling code).
RUN_FORMAT = "semanticnn-run"
RUN_FORMAT_VERSION = 2


@dataclass(frozen=True)
class RunInfo:
    """What a run learned about its data, saved in `model.pt` beside the weights."""

    dataset: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    in_channels: int
    num_classes: int
    split_shape: tuple[int, int, int]  # the base model's features at the split point
    train_seconds: dict[str, float] = field(default_factory=dict)  # per phase/variant
    # The validation hold-out (None: a run saved before it existed trained on every
    # training image).
    val_fraction: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_shape"], d["split_shape"] = list(self.input_shape), list(self.split_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], val_fraction: float | None) -> RunInfo:
        def shape(key: str) -> tuple[int, int, int]:
            c, h, w = (int(v) for v in d[key])
            return c, h, w

        return cls(
            str(d["dataset"]),
            shape("input_shape"),
            int(d["in_channels"]),
            int(d["num_classes"]),
            shape("split_shape"),
            {str(k): float(v) for k, v in d.get("train_seconds", {}).items()},
            val_fraction,
        )


class Checkpoint(TypedDict):
    """`checkpoint.pt`: where an interrupted run resumes and everything it needs."""

    format: str  # RUN_FORMAT
    format_version: int  # RUN_FORMAT_VERSION
    phase: int  # index into PHASES
    epoch: int  # the next epoch of that phase
    base: StateDict
    aware: StateDict
    blind: StateDict
    opt: StateDict
    sched: StateDict
    timings: dict[str, float]


class SavedRun(TypedDict):
    """`model.pt`: a finished run."""

    format: str  # RUN_FORMAT
    format_version: int  # RUN_FORMAT_VERSION
    config: dict[str, Any]  # TrainConfig.to_dict()
    info: dict[str, Any]  # RunInfo.to_dict() without val_fraction (it is in the config)
    base: StateDict
    aware: StateDict
    blind: StateDict


@dataclass
class TrainedRun:
    """A finished run: its configuration and the three trained models (eval mode)."""

    config: TrainConfig
    base: BaseClassifier
    aware: SemanticNN
    blind: SemanticNN
    info: RunInfo


def _seeded(seed: int, salt: int) -> None:
    torch.manual_seed(derive_seed(seed, salt))


def _build(cfg: TrainConfig, info: RunInfo) -> tuple[BaseClassifier, dict[Variant, SemanticNN]]:
    """The base model and both SemanticNN variants; the variants get the same initial
    weights (the same seed, and the BER-blind decoder has the same parameters)."""
    _seeded(cfg.seed, 0)
    base = build_base(model_spec_of(cfg, info.input_shape, info.num_classes))
    split = info.split_shape
    snns = {}
    for v in VARIANTS:
        _seeded(cfg.seed, 1)
        snns[v] = SemanticNN(
            base,
            split,
            cfg.latent_channels or None,
            cfg.levels,
            cfg.power_norm,
            v == "aware",
            cfg.qat,
            cfg.soft_demap,
            cfg.gray,
        )
    return base, snns


def model_spec_of(cfg: TrainConfig, shape: tuple[int, int, int], classes: int) -> ModelSpec:
    """The zoo model of a run: `cfg.model` cut at `cfg.split`, for its data."""
    return model_spec(cfg.model, cfg.split, shape, classes, cfg.tail)


def _info(cfg: TrainConfig, data: Splits) -> RunInfo:
    shape = data.train.shape
    probe = build_base(model_spec_of(cfg, shape, data.num_classes))
    return RunInfo(
        data.name,
        shape,
        shape[0],
        data.num_classes,
        split_shape(probe.head, shape),
        val_fraction=cfg.val_fraction,
    )


def _optimizer(params: list[nn.Parameter], cfg: TrainConfig, epochs: int) -> tuple[Any, Any]:
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(epochs, 1))
    return opt, sched


def _phase_params(stage: str, base: BaseClassifier, snn: SemanticNN | None) -> list[nn.Parameter]:
    if stage == "base":
        return list(base.parameters())
    assert snn is not None
    mods: list[nn.Module] = [snn.encoder.quantizer, snn.decoder]
    if stage == "stage2":
        mods.append(snn.tail)
    return snn.encoder.compressor_parameters() + [p for m in mods for p in m.parameters()]


def _epochs(stage: str, cfg: TrainConfig) -> int:
    return {"base": cfg.base_epochs, "stage1": cfg.stage1_epochs, "stage2": cfg.stage2_epochs}[
        stage
    ]


def _save(path: Path, obj: Checkpoint | SavedRun) -> None:
    with atomic_writer(path) as f:
        torch.save(obj, f)


def _check_config(out: Path, cfg: TrainConfig) -> None:
    old = TrainConfig.load(out / "config.json")
    if old != cfg:
        diff = {k: (v, cfg.to_dict()[k]) for k, v in old.to_dict().items() if cfg.to_dict()[k] != v}
        raise ValueError(f"{out}: --resume with a different configuration {diff}")


def train_run(cfg: TrainConfig, out: Path, resume: bool = False, device: str = "auto") -> Path:
    """Train all phases into `out` on `device` (auto: the GPU where one exists); returns
    the path of `model.pt`."""
    d = ddp.setup(device)
    final = out / "model.pt"
    ckpt_path = out / "checkpoint.pt"
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"run folder is a file: {out}")
    if not resume and (final.exists() or ckpt_path.exists()):
        raise FileExistsError(f"{out} already holds a run: use --resume or another --out")
    if resume and final.exists():
        _check_config(out, cfg)
        return final
    data = load_dataset(cfg.dataset)
    info = _info(cfg, data)
    fit, _ = holdout(data.train, cfg.val_fraction)
    if len(fit) // d.world < cfg.batch_size:
        raise ValueError(
            f"{cfg.dataset}: {len(fit)} training images after the validation hold-out "
            f"({d.world} process(es)), fewer than one batch of {cfg.batch_size}; "
            "lower --batch-size"
        )
    base, snns = _build(cfg, info)
    ckpt: Checkpoint | None = None
    if resume and ckpt_path.exists():
        _check_config(out, cfg)
        ckpt = _read(ckpt_path)
    elif d.main:
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    base.to(d.device)
    for m in snns.values():
        m.to(d.device)
    timings: dict[str, float] = dict(ckpt["timings"]) if ckpt else {}
    start_phase, start_epoch = (ckpt["phase"], ckpt["epoch"]) if ckpt else (0, 0)
    if ckpt:
        _load_models(ckpt_path, ckpt, base, snns)
    cache: dict[str, torch.Tensor] = {}  # the XAI weights, from the frozen base
    for pi, (stage, variant) in enumerate(PHASES):
        if pi < start_phase:
            continue
        snn = None if variant == "base" else snns[variant]
        if snn is not None:
            if stage == "stage1" and (pi > start_phase or start_epoch == 0):
                # A fresh stage 1 starts from the trained base model's head and tail.
                snn.encoder.load_head(base.head)
                snn.tail.load_state_dict(base.tail.state_dict())
            for p in snn.encoder.head_parameters():
                p.requires_grad_(False)
        epochs = _epochs(stage, cfg)
        opt, sched = _optimizer(_phase_params(stage, base, snn), cfg, epochs)
        first = 0
        if ckpt and pi == start_phase and start_epoch > 0:
            opt.load_state_dict(ckpt["opt"])
            sched.load_state_dict(ckpt["sched"])
            first = start_epoch
        model = ddp.wrap(base if snn is None else snn, d)
        if stage == "stage1" and first < epochs and "xai" not in cache:
            cache["xai"] = stages.xai_weights(base, fit, cfg, d.device)
        salt = {"base": 0, "stage1": 1, "stage2": 2}[stage]  # both variants: the same data
        for epoch in range(first, epochs):
            t0 = time.perf_counter()
            if stage == "base":
                loss = stages.base_epoch(model, fit, opt, cfg, epoch, d)
            elif stage == "stage1":
                loss = stages.stage1_epoch(model, base, fit, cache["xai"], opt, cfg, epoch, salt, d)
            else:
                loss = stages.stage2_epoch(model, base, fit, opt, cfg, epoch, salt, d)
            key = f"{stage}/{variant}"
            if not math.isfinite(loss):
                # Checked before the checkpoint: --resume restarts from the last good epoch.
                raise ValueError(f"{key} epoch {epoch + 1}: the loss is {loss}; lower --lr")
            sched.step()
            timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
            if d.main:
                print(f"[train] {key} epoch {epoch + 1}/{epochs} loss {loss:.4f}", flush=True)
                nxt = (pi, epoch + 1) if epoch + 1 < epochs else (pi + 1, 0)
                _save(
                    ckpt_path,
                    Checkpoint(
                        format=RUN_FORMAT,
                        format_version=RUN_FORMAT_VERSION,
                        phase=nxt[0],
                        epoch=nxt[1],
                        base=base.state_dict(),
                        aware=snns["aware"].state_dict(),
                        blind=snns["blind"].state_dict(),
                        opt=opt.state_dict(),
                        sched=sched.state_dict(),
                        timings=timings,
                    ),
                )
            ddp.barrier(d)
    if d.main:
        saved = replace(info, train_seconds=timings).to_dict()
        del saved["val_fraction"]
        _save(
            final,
            SavedRun(
                format=RUN_FORMAT,
                format_version=RUN_FORMAT_VERSION,
                config=cfg.to_dict(),
                info=saved,
                base=base.state_dict(),
                aware=snns["aware"].state_dict(),
                blind=snns["blind"].state_dict(),
            ),
        )
        ckpt_path.unlink(missing_ok=True)
    ddp.barrier(d)
    ddp.teardown(d)
    return final


def _read(path: Path) -> Any:
    """A saved checkpoint or run, read weights-only; a file that is not one, or one
    written by an older version, is a one-line ValueError."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's weights-only refusal: a damaged file, an older version's, or one that
        # names code to run (its message is a page long; its gist fits here).
        raise ValueError(
            f"{path}: not a readable checkpoint: damaged, written by an older version, or "
            "it would run code when loaded (semanticnn loads weights only); train it again"
        ) from e
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise ValueError(f"{path}: not a readable checkpoint ({one_line(e)})") from e
    if not isinstance(obj, dict) or obj.get("format") != RUN_FORMAT:
        raise ValueError(f"{path}: not a semanticnn run file; train it again")
    if obj.get("format_version") != RUN_FORMAT_VERSION:
        raise ValueError(
            f"{path}: run format version {obj.get('format_version')!r}, this semanticnn "
            f"reads version {RUN_FORMAT_VERSION}; train it again"
        )
    return obj


def _load_models(
    path: Path,
    saved: Checkpoint | SavedRun,
    base: BaseClassifier,
    snns: dict[Variant, SemanticNN],
) -> None:
    """The saved weights into the models; a file saved by another version of them is a
    one-line ValueError."""
    try:
        base.load_state_dict(saved["base"])
        for v in VARIANTS:
            snns[v].load_state_dict(saved[v])
    except (RuntimeError, KeyError, TypeError) as e:
        raise ValueError(
            f"{path} was saved by another version of the models; train it again "
            f"(remove {path.parent}): {one_line(e)}"
        ) from e


def load_run(out: Path) -> TrainedRun:
    """Load a finished run folder (its `model.pt`)."""
    if not out.exists():
        raise FileNotFoundError(f"no finished run at {out}: no such folder; train one first")
    path = out / "model.pt" if out.is_dir() else out
    if not path.is_file():
        raise FileNotFoundError(f"no finished run at {out} (expected {path}); train it first")
    obj: SavedRun = _read(path)
    cfg = TrainConfig.from_dict(obj["config"])
    # A run saved before the validation hold-out trained on every training image.
    info = RunInfo.from_dict(obj["info"], obj["config"].get("val_fraction"))
    base, snns = _build(cfg, info)
    _load_models(path, obj, base, snns)
    for m in (base, *snns.values()):
        m.eval()
    return TrainedRun(cfg, base, snns["aware"], snns["blind"], info)
