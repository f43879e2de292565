"""`semanticnn bench tflite`: agreement with LiteRT's reference kernels, per op, on
random layers (`int8.litert.random_layer`): the Rust encoder and the numpy reference
(required: every value), LiteRT's optimized and XNNPACK kernels (measured only: they
may round ties their own way)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from semanticnn.int8 import litert


def run_bench(layers_per_op: int = 150, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Per op of `litert.OPS`: layers, and per implementation the layers and values it
    ran (LiteRT's peers may refuse a layer) and how many equal the reference kernels'."""
    rng = np.random.default_rng(seed)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(op, k) for op in litert.OPS for k in range(layers_per_op)]
        for op, _ in tqdm(cases, desc="layers", disable=not progress, leave=False):
            a = litert.compare(litert.random_layer(rng, op), Path(tmp))
            row = rows.setdefault(op, {"layers": 0, "by": {}})
            row["layers"] += 1
            for name, n in a.equal.items():
                by = row["by"].setdefault(
                    name,
                    {
                        "layers_run": 0,
                        "values_run": 0,
                        "equal": 0,
                        "layers_equal": 0,
                        "off_by_one": 0,
                        "max_diff": 0,
                        "layers_beyond_one": 0,
                    },
                )
                if name in a.refused:
                    continue
                by["layers_run"] += 1
                by["values_run"] += a.values
                by["equal"] += n
                by["layers_equal"] += n == a.values
                by["off_by_one"] += a.off_by_one[name]
                by["max_diff"] = max(by["max_diff"], a.max_diff[name])
                by["layers_beyond_one"] += a.max_diff[name] > 1
    return {"layers_per_op": layers_per_op, "seed": seed, "ops": rows}


def table(result: dict[str, Any]) -> list[str]:
    """The result as the lines `bench tflite` prints: per op and implementation, the
    share of values (and of layers) equal to LiteRT's reference kernels, over the
    layers it ran (XNNPACK refuses some extreme scales: counted apart)."""
    ops = result["ops"]
    names = list(next(iter(ops.values()))["by"]) if ops else []
    lines = [f"{'op':14s} {'layers':>6s} " + " ".join(f"{n:>20s}" for n in names)]
    for op, row in ops.items():
        cells, refused = [], []
        for n in names:
            by = row["by"][n]
            if by["layers_run"] < row["layers"]:
                refused.append(f"{n} {row['layers'] - by['layers_run']}")
            values = 100 * by["equal"] / max(by["values_run"], 1)
            layers = 100 * by["layers_equal"] / max(by["layers_run"], 1)
            cells.append(f"{values:8.3f}% ({layers:5.1f}%)")
        lines.append(
            f"{op:14s} {row['layers']:6d} "
            + " ".join(f"{c:>20s}" for c in cells)
            + (f"  refused: {', '.join(refused)}" if refused else "")
        )
    lines.append(
        "(values equal to LiteRT's reference kernels, in parentheses the layers whose every "
        "value is, both over the layers each ran; rust and numpy must be 100%)"
    )
    for n in names:
        by = [row["by"][n] for row in ops.values()]
        differ = sum(b["values_run"] - b["equal"] for b in by)
        if differ:
            one = sum(b["off_by_one"] for b in by)
            far = sum(b["layers_beyond_one"] for b in by)
            lines.append(
                f"{n}: {differ} values differ, {one} of them by one; the rest in {far} "
                f"layers, at most {max(b['max_diff'] for b in by)} apart"
            )
    return lines
