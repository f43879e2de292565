"""`semanticnn bench train`: a QAT training step against the same step in float.

One step is stage 2's (`semanticnn.train.stages.stage2_epoch`) without the teacher:
`snn(x, ber, seed)` (the encoder with its frozen head, the channel at a per-sample
BER, the BER-aware decoder and the tail), cross-entropy on the logits, backward, an
Adam step over the parameters stage 2 trains, and `loss.item()`. Both models are
built from the same seed, on the same batch, with the same torch threads; each row is
the median of `repeats` timed steps after two warm-up steps, the two variants timed in
turns so that a change in the machine's load hits both (`timing.interleaved_seconds`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from semanticnn.models import SemanticNN, build_base
from semanticnn.models.zoo import model_spec, split_shape
from semanticnn.train.ddp import use_cuda

from .timing import interleaved_seconds

SHAPE = (1, 28, 28)  # (C, H, W): the MNIST-sized input the zoo's models train on
CLASSES = 10
VARIANTS = (("qat", True), ("float", False))
TARGET_RATIO = 2.0  # issue 13: the QAT step at most twice the float step (CPU)


def training_step(
    model: str, qat: bool, batch: int, device: torch.device, seed: int = 0
) -> Callable[[], float]:
    """One stage-2 style training step of zoo model `model` (QAT or float) on a fixed
    random batch; each call runs it and returns the loss."""
    torch.manual_seed(seed)  # the same weights for both variants
    spec = model_spec(model, "", SHAPE, CLASSES)
    base = build_base(spec)
    snn = SemanticNN(base, split_shape(base.head, SHAPE), qat=qat).to(device).train()
    for p in snn.encoder.head_parameters():
        p.requires_grad_(False)
    params = [p for p in snn.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((batch, *SHAPE), dtype=np.float32)).to(device)
    y = torch.from_numpy(rng.integers(0, CLASSES, batch)).to(device)
    ber = torch.from_numpy(np.exp(rng.uniform(np.log(1e-4), np.log(1e-1), batch))).float()

    def step() -> float:
        _, logits = snn(x, ber, seed)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()  # as stage 2: waits for the device

    return step


def run_bench(
    model: str = "tiny",
    batch: int = 64,
    repeats: int = 5,
    threads: int | None = None,
    device: str = "auto",
    seed: int = 0,
) -> dict[str, Any]:
    """Median seconds of the QAT and the float training step, and their ratio."""
    dev = torch.device("cuda" if use_cuda(device) else "cpu")
    threads = threads or os.cpu_count() or 1
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        steps = {name: training_step(model, qat, batch, dev, seed) for name, qat in VARIANTS}
        for step in steps.values():
            step()  # the first step makes Adam's state; the second is still slower
        seconds = interleaved_seconds(steps, repeats)
    finally:
        torch.set_num_threads(previous)
    ratio = seconds["qat"] / seconds["float"]
    return {
        "model": model,
        "batch": batch,
        "threads": threads,
        "device": dev.type,
        "repeats": repeats,
        "qat": {"seconds": seconds["qat"], "images_per_s": batch / seconds["qat"]},
        "float": {"seconds": seconds["float"], "images_per_s": batch / seconds["float"]},
        "ratio": ratio,
        "target": TARGET_RATIO,
        # The target is the CPU's; on a GPU the ratio is reported, not judged.
        "met": ratio <= TARGET_RATIO if dev.type == "cpu" else None,
    }
