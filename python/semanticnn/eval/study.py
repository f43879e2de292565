"""`semanticnn study`: K training seeds of one configuration, each evaluated, then the
mean and 95% confidence interval of every figure over the seeds.

The folder holds `seed-<k>/` (a run folder with its `report.json`) and, once every seed
is done, `study.json` (docs/report-format.md) and `study.png`. It resumes: a finished
seed is reused, an interrupted one resumes its training; a seed's report is reused only
when it was made with the same evaluation settings.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np

from semanticnn.eval.records import PairedRecord, Report, SystemRecord
from semanticnn.train.config import TrainConfig

FigureKey = Literal["accuracy", "delivery", "bytes_on_air", "payload_accuracy"]
STUDY_FORMAT = "semanticnn-study"
STUDY_VERSION = 1
# The paired differences reported (a system minus another, seed by seed, same channels).
PAIRS = (("semanticnn", "semanticnn_blind"), ("semanticnn_oracle", "semanticnn"))


def seed_dir(out: Path, seed: int) -> Path:
    return out / f"seed-{seed}"


def report_matches(path: Path, repeats: int, eval_set: str) -> bool:
    """Whether the seed's report was made with these evaluation settings (a missing or
    damaged one is made again)."""
    from semanticnn.eval.report import REPORT_VERSION, RETRANSMISSIONS, default_links, link_record

    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    want = (
        REPORT_VERSION,
        repeats,
        eval_set,
        RETRANSMISSIONS,
        [link_record(x) for x in default_links()],
    )
    return (
        r.get("version"),
        r.get("repeats"),
        r.get("split"),
        r.get("retransmissions"),
        r.get("links"),
    ) == want


def study_seed(cfg: TrainConfig, out: Path, repeats: int, eval_set: str, threads: int) -> Path:
    """Train (or resume, or reuse) one seed's run in `out` and evaluate it once."""
    import torch

    from semanticnn.eval.report import evaluate_run, plot_report, write_report
    from semanticnn.train import load_run, train_run

    if threads > 0:
        torch.set_num_threads(threads)
    train_run(cfg, out, resume=True)
    path = out / "report.json"
    if not report_matches(path, repeats, eval_set):
        report = evaluate_run(load_run(out), repeats, eval_set=eval_set)
        write_report(report, path)
        plot_report(report, out / "report.png")
    return path


def t_quantile(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def mean_ci(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Mean over axis 0 and the half-width of its 95% CI (None for a single seed)."""
    k = len(values)
    mean = values.mean(0)
    if k < 2:
        return mean, None
    return mean, t_quantile(k - 1) * values.std(0, ddof=1) / np.sqrt(k)


def aggregate(reports: list[Report]) -> Report:
    """Mean and 95% CI over seeds of each system's figures, the paired differences, and
    the targets checked on the means. The result is a report (the means in place of one
    seed's values) with `accuracy_ci95` per system, `paired` and `seeds` added."""
    from semanticnn.eval.report import check_targets

    if not reports:
        raise ValueError("no reports to aggregate")
    first = reports[0]
    for r in reports[1:]:
        if [link["label"] for link in r["links"]] != [link["label"] for link in first["links"]]:
            raise ValueError("the seeds' reports cover different links: evaluate them alike")
    names = [n for n in first["systems"] if all(n in r["systems"] for r in reports)]

    def stack(name: str, key: FigureKey) -> np.ndarray:
        return np.array([r["systems"][name][key] for r in reports], dtype=np.float64)

    out: Report = {
        **first,
        "systems": {},
        "targets": [],
        "config": {**first["config"], "seed": None},
    }
    out.pop("train_seconds", None)
    out["seeds"] = [r["config"]["seed"] for r in reports]
    for name in names:
        s = SystemRecord(**first["systems"][name])
        keys: tuple[FigureKey, ...] = ("accuracy", "delivery", "bytes_on_air")
        for key in keys:
            mean, half = mean_ci(stack(name, key))
            s[key] = mean.tolist()
            if key == "accuracy":
                s["accuracy_ci95"] = None if half is None else half.tolist()
        if s.get("payload_accuracy") is not None:
            s["payload_accuracy"] = stack(name, "payload_accuracy").mean(0).tolist()
        out["systems"][name] = s
    out["paired"] = {}
    for a, b in PAIRS:
        if a in names and b in names:
            mean, half = mean_ci(stack(a, "accuracy") - stack(b, "accuracy"))
            out["paired"][f"{a} - {b}"] = PairedRecord(
                mean=mean.tolist(), ci95=None if half is None else half.tolist()
            )
    out["format"], out["version"] = STUDY_FORMAT, STUDY_VERSION
    out["targets"] = check_targets(out)
    return out


def default_jobs(threads_per_job: int = 2) -> int:
    """Seeds trained at once: one per `threads_per_job` cores (torch gains little from
    more threads on these small models)."""
    return max(1, (os.cpu_count() or 1) // threads_per_job)


def run_study(
    cfg: TrainConfig,
    out: Path,
    seeds: int,
    repeats: int,
    eval_set: str = "test",
    jobs: int = 0,
) -> Report:
    """Train and evaluate seeds 0..seeds-1 of `cfg` (its own seed is ignored) into
    `out`, then write `study.json` and `study.png`; returns the aggregate."""
    from semanticnn.eval.report import plot_report
    from semanticnn.fsutil import write_text_atomic

    if seeds < 1:
        raise ValueError(f"seeds must be >= 1, got {seeds}")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"study folder is a file: {out}")
    jobs = min(jobs or default_jobs(), seeds)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    configs = [dataclasses.replace(cfg, seed=k) for k in range(seeds)]
    if jobs == 1:
        paths = [study_seed(c, seed_dir(out, c.seed), repeats, eval_set, threads) for c in configs]
    else:
        # Fresh interpreters: torch's thread pools do not survive fork().
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [
                pool.submit(study_seed, c, seed_dir(out, c.seed), repeats, eval_set, threads)
                for c in configs
            ]
            try:
                paths = [f.result() for f in futures]
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the first error ends the study
                raise
    study = aggregate([json.loads(p.read_text()) for p in paths])
    write_text_atomic(out / "study.json", json.dumps(study, indent=2) + "\n")
    ci = {
        n: ci95 for n, s in study["systems"].items() if (ci95 := s.get("accuracy_ci95")) is not None
    }
    plot_report(study, out / "study.png", ci)
    return study
