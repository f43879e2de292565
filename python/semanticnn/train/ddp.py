"""DistributedDataParallel under `torchrun` (gloo on CPU, nccl on GPU); a no-op alone."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from semanticnn.train.config import DEVICES


@dataclass(frozen=True)
class Dist:
    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def use_cuda(device: str) -> bool:
    """Whether to train on the GPU: `auto` where one exists, `cuda` demands one."""
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda: no CUDA GPU is available here (use --device cpu or auto)")
    return device != "cpu" and torch.cuda.is_available()


def setup(device: str = "auto") -> Dist:
    """Join the process group that torchrun describes in the environment, if any;
    train on `device` (auto: the GPU where one exists)."""
    cuda = use_cuda(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(0, 1, torch.device("cuda" if cuda else "cpu"))
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    return Dist(rank, dist.get_world_size(), dev)


def wrap(model: nn.Module, d: Dist) -> nn.Module:
    if d.world == 1:
        return model
    ids = [d.device.index] if d.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def shard(indices: np.ndarray, d: Dist) -> np.ndarray:
    """This rank's share; every rank gets the same count so the steps stay in lock-step."""
    per = len(indices) // d.world
    return indices[d.rank * per : (d.rank + 1) * per]


def barrier(d: Dist) -> None:
    if d.world > 1:
        dist.barrier()


def teardown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
