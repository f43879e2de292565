"""One epoch of each training stage, and the XAI weights of stage 1."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from semanticnn.data import ArrayDataset
from semanticnn.models import BaseClassifier
from semanticnn.seeds import derive_rng, derive_seed
from semanticnn.train.config import TrainConfig
from semanticnn.train.ddp import Dist, shard


def epoch_batches(
    n: int, cfg: TrainConfig, epoch: int, salt: int, d: Dist
) -> Iterator[tuple[int, np.ndarray]]:
    """(step, indices) for one epoch: a seeded shuffle shared by all ranks, then sharded."""
    order = derive_rng(cfg.seed, salt, epoch).permutation(n)
    mine = shard(order, d)
    steps = len(mine) // cfg.batch_size
    if cfg.max_steps:
        steps = min(steps, cfg.max_steps)
    for step in range(steps):
        yield step, mine[step * cfg.batch_size : (step + 1) * cfg.batch_size]


def draw_ber(rng: np.random.Generator, cfg: TrainConfig, n: int) -> float | torch.Tensor:
    """The BER of a batch of `n`: each 0 with probability p_clean, else log-uniform in
    [ber_min, ber_max]; one per sample (a (n,) tensor) or, without `ber_per_sample`,
    one for the whole batch (a float)."""
    k = n if cfg.ber_per_sample else 1
    clean = rng.random(k) < cfg.p_clean
    lo, hi = math.log(max(cfg.ber_min, 1e-12)), math.log(max(cfg.ber_max, 1e-12))
    ber = np.where(clean | (cfg.ber_max == 0), 0.0, np.exp(rng.uniform(lo, hi, k)))
    return torch.from_numpy(ber.astype(np.float32)) if cfg.ber_per_sample else float(ber[0])


def shift_images(x: torch.Tensor, rng: np.random.Generator, max_shift: int) -> torch.Tensor:
    """Each image moved by a random whole-pixel offset in [-max_shift, max_shift] on each
    axis (zero fill): the training augmentation of the base model and of stage 2."""
    if max_shift <= 0:
        return x
    n, _, h, w = x.shape
    m = max_shift
    offsets = rng.integers(0, 2 * m + 1, (n, 2))
    padded = F.pad(x, (m, m, m, m))
    out = torch.empty_like(x)
    for dy, dx in {(int(a), int(b)) for a, b in offsets}:
        idx = torch.from_numpy(np.flatnonzero((offsets[:, 0] == dy) & (offsets[:, 1] == dx)))
        out[idx] = padded[idx, :, dy : dy + h, dx : dx + w]
    return out


def batch_seed(cfg: TrainConfig, salt: int, epoch: int, step: int, rank: int) -> int:
    """Channel seed for one batch: distinct per run seed, stage, epoch, step and rank."""
    return derive_seed(cfg.seed, salt, epoch, step, rank)


def _progress(it: Iterator, total: int, desc: str, d: Dist) -> tqdm:
    return tqdm(it, total=total, desc=desc, disable=not d.main, leave=False, unit="batch")


def _steps(n: int, cfg: TrainConfig, d: Dist) -> int:
    s = (n // d.world) // cfg.batch_size
    return min(s, cfg.max_steps) if cfg.max_steps else s


def base_epoch(
    model: nn.Module,
    data: ArrayDataset,
    opt: torch.optim.Optimizer,
    cfg: TrainConfig,
    epoch: int,
    d: Dist,
) -> float:
    """Cross-entropy training of the unsplit base model; returns the mean loss."""
    model.train()
    rng = derive_rng(cfg.seed, 0, epoch, d.rank)
    x_all, y_all = torch.from_numpy(data.x), torch.from_numpy(data.y)
    total, count = 0.0, 0
    batches = epoch_batches(len(data), cfg, epoch, 0, d)
    for _, idx in _progress(batches, _steps(len(data), cfg, d), f"base {epoch + 1}", d):
        x, y = shift_images(x_all[idx], rng, cfg.shift).to(d.device), y_all[idx].to(d.device)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total, count = total + loss.item(), count + 1
    return total / max(count, 1)


def xai_weights(
    base: BaseClassifier, data: ArrayDataset, cfg: TrainConfig, device: torch.device
) -> torch.Tensor:
    """Per-element weights of the split features for the stage-1 loss.

    |integrated gradients| of the true-class logit of the tail with respect to the split
    features (zero baseline), normalised to mean 1 per sample, then mixed with a uniform
    weight: w = (1 - xai_weight) + xai_weight * |IG| / mean|IG|.
    """
    from captum.attr import IntegratedGradients

    base.eval()
    ig = IntegratedGradients(base.tail)
    out = []
    x_all, y_all = torch.from_numpy(data.x), torch.from_numpy(data.y)
    for start in tqdm(range(0, len(data), 256), desc="XAI weights", leave=False, unit="batch"):
        x = x_all[start : start + 256].to(device)
        with torch.no_grad():
            feats = base.head(x)
        attr = ig.attribute(
            feats,
            target=y_all[start : start + 256].to(device),
            n_steps=cfg.ig_steps,
            internal_batch_size=1024,
        ).abs()
        attr = attr / attr.flatten(1).mean(1).clamp_min(1e-12).view(-1, 1, 1, 1)
        out.append(((1 - cfg.xai_weight) + cfg.xai_weight * attr).cpu())
    return torch.cat(out)


def stage1_epoch(
    model: nn.Module,
    base: BaseClassifier,
    data: ArrayDataset,
    weights: torch.Tensor,
    opt: torch.optim.Optimizer,
    cfg: TrainConfig,
    epoch: int,
    salt: int,
    d: Dist,
) -> float:
    """Denoising autoencoder: rebuild the base model's split features through the channel,
    with the reconstruction error weighted by the XAI weights."""
    model.train()
    base.eval()
    rng = derive_rng(cfg.seed, salt, epoch, d.rank)
    x_all = torch.from_numpy(data.x)
    total, count = 0.0, 0
    batches = epoch_batches(len(data), cfg, epoch, salt, d)
    for step, idx in _progress(batches, _steps(len(data), cfg, d), f"stage 1 {epoch + 1}", d):
        x = x_all[idx].to(d.device)
        with torch.no_grad():
            target = base.head(x)
        ber = draw_ber(rng, cfg, len(idx))
        feats, _ = model(x, ber, batch_seed(cfg, salt, epoch, step, d.rank))
        loss = (weights[idx].to(d.device) * (feats - target).pow(2)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total, count = total + loss.item(), count + 1
    return total / max(count, 1)


def stage2_epoch(
    model: nn.Module,
    base: BaseClassifier,
    data: ArrayDataset,
    opt: torch.optim.Optimizer,
    cfg: TrainConfig,
    epoch: int,
    salt: int,
    d: Dist,
) -> float:
    """Task-oriented: cross-entropy plus distillation from the (frozen) base model's logits,
    on shifted images (`cfg.shift`)."""
    model.train()
    base.eval()
    rng = derive_rng(cfg.seed, salt, epoch, d.rank)
    x_all, y_all = torch.from_numpy(data.x), torch.from_numpy(data.y)
    t, a = cfg.distill_temperature, cfg.distill_alpha
    total, count = 0.0, 0
    batches = epoch_batches(len(data), cfg, epoch, salt, d)
    for step, idx in _progress(batches, _steps(len(data), cfg, d), f"stage 2 {epoch + 1}", d):
        x, y = shift_images(x_all[idx], rng, cfg.shift).to(d.device), y_all[idx].to(d.device)
        ber = draw_ber(rng, cfg, len(idx))
        with torch.no_grad():
            teacher = base(x)
        _, logits = model(x, ber, batch_seed(cfg, salt, epoch, step, d.rank))
        kd = F.kl_div(
            F.log_softmax(logits / t, 1),
            F.log_softmax(teacher / t, 1),
            reduction="batchmean",
            log_target=True,
        )
        loss = (1 - a) * F.cross_entropy(logits, y) + a * t * t * kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total, count = total + loss.item(), count + 1
    return total / max(count, 1)
