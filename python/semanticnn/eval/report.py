"""Accuracy against BER for the five systems, `report.json` (docs/report-format.md) and
`report.png`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from semanticnn.data import load_dataset
from semanticnn.eval import systems
from semanticnn.fsutil import atomic_path, write_text_atomic
from semanticnn.link import BSC, Channel, GilbertElliott
from semanticnn.train.run import Run

REPORT_FORMAT = "semanticnn-report"
REPORT_VERSION = 1
BERS = (0.0, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
LABELS = {
    "original": "original model (unsplit)",
    "float32": "float32 split features",
    "uint8": "uniform 8-bit split features",
    "semanticnn_blind": "SemanticNN, BER-blind decoder",
    "semanticnn": "SemanticNN (BER-aware decoder)",
    "semanticnn_pilot": "SemanticNN, BER from each frame's pilot",
}


def _seed(ci: int, rep: int, batch: int) -> int:
    """The same channel realisation seed for every system (paired comparison)."""
    ss = np.random.SeedSequence([0x5E3A, ci, rep, batch])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _accuracies(
    system: systems.System,
    x: torch.Tensor,
    y: torch.Tensor,
    links: list[Channel],
    repeats: list[int],
    batch: int,
    bar: tqdm,
) -> list[float]:
    """Accuracy on each link (over `repeats[i]` channel seeds); the device side runs once."""
    correct = [0] * len(links)
    total = [0] * len(links)
    for bi, start in enumerate(range(0, len(y), batch)):
        sent = system.send(x[start : start + batch])
        truth = y[start : start + batch]
        for ci, link in enumerate(links):
            for rep in range(repeats[ci]):
                pred = system.receive(sent, link, _seed(ci, rep, bi))
                correct[ci] += int((pred == truth).sum())
                total[ci] += len(pred)
        bar.update()
    return [c / t for c, t in zip(correct, total, strict=True)]


def evaluate_run(
    run: Run,
    repeats: int,
    batch: int = 500,
    bers: tuple[float, ...] = BERS,
    ge: GilbertElliott | None = None,
) -> dict[str, Any]:
    """Evaluate a finished run on its dataset's test set; returns the report dict."""
    ge = ge or GilbertElliott()
    data = load_dataset(run.config.dataset)
    x, y = torch.from_numpy(data.test.x), torch.from_numpy(data.test.y)
    with torch.no_grad():
        xt = torch.from_numpy(data.train.x)
        fmax = max(
            float(systems.split_features(run.base, xt[i : i + 500]).max())
            for i in range(0, len(xt), 500)
        )
    predictors = {
        "original": systems.original(run.base),
        "float32": systems.float32(run.base),
        "uint8": systems.uint8(run.base, fmax),
        "semanticnn_blind": systems.semanticnn(run.blind),
        "semanticnn": systems.semanticnn(run.aware),
        "semanticnn_pilot": systems.semanticnn(run.aware, systems.PILOT_BITS),
    }
    links: list[Channel] = [BSC(b) for b in bers] + [ge]
    split = tuple(run.info["split_shape"])
    f32 = systems.float32_payload_bytes(split)  # type: ignore[arg-type]
    latent = run.aware.latent_shape()
    nbits = run.aware.encoder.quantizer.bits
    snn_bytes = math.ceil(math.prod(latent) * nbits / 8)
    sizes = {
        "original": None,
        "float32": f32,
        "uint8": f32 // 4,
        "semanticnn_blind": snn_bytes,
        "semanticnn": snn_bytes,
        "semanticnn_pilot": snn_bytes + systems.PILOT_BITS // 8,
    }
    result: dict[str, Any] = {}
    batches = -(-len(y) // batch)
    bar = tqdm(total=len(predictors) * batches, desc="evaluate", unit="batch")
    for name, system in predictors.items():
        reps = [repeats if name != "original" and link.mean_ber > 0 else 1 for link in links]
        accs = _accuracies(system, x, y, links, reps, batch, bar)
        size = sizes[name]
        result[name] = {
            "label": LABELS[name],
            "bytes_per_inference": size,
            "compression_ratio": (f32 / size) if size else None,
            "accuracy": accs[:-1],
            "accuracy_gilbert_elliott": accs[-1],
        }
    bar.close()
    report = {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "dataset": data.name,
        "test_samples": len(y),
        "repeats": repeats,
        "ber": list(bers),
        "gilbert_elliott": {
            "p_gb": ge.p_gb,
            "p_bg": ge.p_bg,
            "ber_good": ge.ber_good,
            "ber_bad": ge.ber_bad,
            "mean_ber": ge.mean_ber,
        },
        "split_shape": list(split),
        "latent_shape": list(latent),
        "bits_per_symbol": nbits,
        "decoder_ber": "semanticnn: the link's mean BER; semanticnn_pilot: each frame's "
        f"estimate from a {systems.PILOT_BITS}-bit pilot",
        "systems": result,
        "config": run.config.to_dict(),
        "train_seconds": run.info.get("train_seconds", {}),
    }
    report["targets"] = check_targets(report)
    return report


def _acc(report: dict[str, Any], system: str, ber: float) -> float:
    return 100.0 * report["systems"][system]["accuracy"][report["ber"].index(ber)]


def check_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, each with the measured value and whether it holds."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float, ok: bool) -> None:
        out.append({"target": name, "value": round(value, 3), "met": bool(ok)})

    ratio = report["systems"]["semanticnn"]["compression_ratio"]
    add("compression >= 344x vs float32 split features", ratio, ratio >= 344)
    bers = report["ber"]
    for b in (x for x in bers if x <= 1e-3):
        gap = _acc(report, "original", b) - _acc(report, "semanticnn", b)
        add(f"SemanticNN within 1 point of the original at BER {b:g} (gap)", gap, gap <= 1)
    if 1e-2 in bers:
        gap = _acc(report, "original", 1e-2) - _acc(report, "semanticnn", 1e-2)
        add("SemanticNN within 3 points of the original at BER 0.01 (gap)", gap, gap <= 3)
        lead = _acc(report, "semanticnn", 1e-2) - _acc(report, "uint8", 1e-2)
        add("SemanticNN >= 10 points above uniform 8-bit at BER 0.01 (lead)", lead, lead >= 10)
    for b in (x for x in bers if x >= 1e-2):
        lead = _acc(report, "semanticnn", b) - _acc(report, "semanticnn_blind", b)
        add(f"BER-aware above BER-blind at BER {b:g} (lead)", lead, lead > 0)
    return out


def write_report(report: dict[str, Any], path: Path) -> None:
    write_text_atomic(path, json.dumps(report, indent=2) + "\n")


def plot_report(report: dict[str, Any], path: Path) -> None:
    """Accuracy against BER (BER 0 drawn at the left edge), Gilbert-Elliott as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bers = report["ber"]
    floor = min(b for b in bers if b > 0) / 10
    xs = [b if b > 0 else floor for b in bers]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for s in report["systems"].values():
        (line,) = ax.plot(xs, [100 * a for a in s["accuracy"]], marker="o", label=s["label"])
        ax.plot(
            [report["gilbert_elliott"]["mean_ber"]],
            [100 * s["accuracy_gilbert_elliott"]],
            marker="*",
            markersize=12,
            color=line.get_color(),
            linestyle="none",
        )
    ax.set_xscale("log")
    ax.set_xticks(
        xs, ["0"] + [f"{b:g}" for b in bers[1:]] if bers[0] == 0 else [f"{b:g}" for b in bers]
    )
    ax.set_xlabel("bit-error rate (stars: Gilbert-Elliott bursts at their mean BER)")
    ax.set_ylabel("test accuracy (%)")
    ratio = report["systems"]["semanticnn"]["compression_ratio"]
    ax.set_title(f"{report['dataset']}: accuracy vs BER (SemanticNN {ratio:.0f}x smaller)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
