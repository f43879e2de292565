"""CLI commands of the training side: `train`, `eval`, `export`, `demo`."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from semanticnn.train.config import TrainConfig

DEFAULT_RUN = Path("runs/mnist5k")
# Channel seeds per noisy point of `eval` and `demo`. The BER-aware/BER-blind gap at BER
# 1e-2 is a few tenths of a point; over 3 seeds it moved by ~0.25 points with the seeds.
REPEATS = 10


def _config_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """One `--option` per TrainConfig field (booleans as --x/--no-x), default = the field's."""
    for fld in reversed(dataclasses.fields(TrainConfig)):
        name = "--" + fld.name.replace("_", "-")
        default = fld.default
        if isinstance(default, bool):
            opt = click.option(
                f"{name}/--no-{fld.name.replace('_', '-')}",
                fld.name,
                default=default,
                show_default=True,
            )
        else:
            opt = click.option(
                name, fld.name, type=type(default), default=default, show_default=True
            )
        f = opt(f)
    return f


def _threads(n: int) -> None:
    if n > 0:
        import torch

        torch.set_num_threads(n)


def _config(kwargs: dict[str, Any]) -> TrainConfig:
    try:
        return TrainConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in _FIELDS})
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
_out = click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=DEFAULT_RUN,
    show_default=True,
    help="Run folder.",
)
_repeats = click.option(
    "--repeats",
    type=click.IntRange(1),
    default=REPEATS,
    show_default=True,
    help="Channel seeds per noisy point.",
)
_threads_opt = click.option(
    "--threads", type=int, default=0, help="torch CPU threads (0: torch's default)."
)


@click.command("train")
@_out
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
@_threads_opt
@_config_options
def train(out: Path, resume: bool, threads: int, **kwargs: Any) -> None:
    """Train the base model and SemanticNN (BER-aware and BER-blind) into --out.

    Runs under `torchrun --nproc_per_node=N` with DistributedDataParallel too.
    """
    from semanticnn.train import train_run

    _threads(threads)
    cfg = _config(kwargs)
    try:
        path = train_run(cfg, out, resume=resume)
    except (FileExistsError, FileNotFoundError, NotADirectoryError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"trained: {path}")


def _load(run_dir: Path) -> Any:
    from semanticnn.train import load_run

    try:
        return load_run(run_dir)
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from e


def _short(link: dict[str, Any]) -> str:
    if link["kind"] == "gilbert_elliott":
        return "GE"
    return ("L" if link["kind"] == "lossy" else "") + f"{link['mean_ber']:g}"


def _print_report(report: dict[str, Any]) -> None:
    links = report["links"]
    width = max(len(s["label"]) for s in report["systems"].values()) + 1
    ci = {n: s.get("accuracy_ci95") for n, s in report["systems"].items()}
    click.echo(f"{'system':{width}s}{'bytes':>7s} " + " ".join(f"{_short(li):>7s}" for li in links))
    for name, s in report["systems"].items():
        size = "-" if not s["frame_bytes"] else str(round(s["bytes_on_air"][0]))
        accs = " ".join(f"{100 * a:7.2f}" for a in s["accuracy"])
        click.echo(f"{s['label']:{width}s}{size:>7s} {accs}")
        if ci.get(name):
            click.echo(
                f"{'  +- 95% CI':{width}s}{'':7s} " + " ".join(f"{100 * h:7.2f}" for h in ci[name])
            )
    snn = report["systems"]["semanticnn"]
    click.echo(
        "(delivered accuracy %, a lost frame counts as wrong; "
        f"{report['samples']} {report['split']} images x {report['repeats']} channel seeds; "
        "bytes: on the air per inference at BER 0, "
        f"digital baselines with up to {report['retransmissions']} retransmissions; GE: "
        "Gilbert-Elliott bursts; L: 5% of frames lost and 5% cut short)"
    )
    click.echo(
        "SemanticNN frames delivered %:  " + " ".join(f"{100 * d:6.2f}" for d in snn["delivery"])
    )
    click.echo(
        "SemanticNN payload-only acc %:  "
        + " ".join(f"{100 * a:6.2f}" for a in snn["payload_accuracy"])
    )
    click.echo(
        f"on-air compression {snn['compression_on_air']:.1f}x (payload only "
        f"{snn['compression_payload']:.1f}x) vs float32 split features"
    )
    for pair, d in report.get("paired", {}).items():
        half = d["ci95"] or [float("nan")] * len(d["mean"])
        diffs = " ".join(
            f"{100 * m:+.2f}+-{100 * h:.2f}" for m, h in zip(d["mean"], half, strict=True)
        )
        click.echo(f"paired {pair}: {diffs}")
    for t in report["targets"]:
        click.echo(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['value']}")


def _evaluate(
    run_dir: Path, out: Path, repeats: int, split: str = "test", retransmissions: int | None = None
) -> dict[str, Any]:
    from semanticnn.eval import evaluate_run, plot_report, write_report
    from semanticnn.eval.report import RETRANSMISSIONS

    arq = RETRANSMISSIONS if retransmissions is None else retransmissions
    report = evaluate_run(_load(run_dir), repeats=repeats, split=split, retransmissions=arq)
    write_report(report, out / "report.json")
    plot_report(report, out / "report.png")
    return report


_split = click.option(
    "--split",
    type=click.Choice(["test", "val"]),
    default="test",
    show_default=True,
    help="Evaluate on the test set (final figures) or the validation split held out of "
    "the training data (design choices).",
)


@click.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path), default=DEFAULT_RUN)
@_repeats
@_split
@click.option(
    "--retransmissions",
    type=click.IntRange(0, 15),
    default=None,
    help="Most retransmissions (ARQ) of the digital baselines' CRC frames, every attempt "
    "counted (default 3, 802.15.4's macMaxFrameRetries).",
)
@_threads_opt
def evaluate(
    run_dir: Path, repeats: int, split: str, retransmissions: int | None, threads: int
) -> None:
    """Delivered accuracy of every system on every link; writes RUN_DIR/report.json and
    report.png.

    Example: semanticnn eval runs/mnist5k --repeats 10
    """
    _threads(threads)
    try:
        report = _evaluate(run_dir, run_dir, repeats, split, retransmissions)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    _print_report(report)
    click.echo(f"wrote {run_dir / 'report.json'} and {run_dir / 'report.png'}")


@click.command("study")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("runs/study"),
    show_default=True,
    help="Study folder (one run folder per seed, study.json, study.png).",
)
@click.option(
    "--seeds", type=click.IntRange(1), default=5, show_default=True, help="Training seeds."
)
@click.option(
    "--jobs",
    type=click.IntRange(0),
    default=0,
    help="Seeds trained at once (0: one per two cores).",
)
@_repeats
@_split
@_config_options
def study(out: Path, seeds: int, jobs: int, repeats: int, split: str, **kwargs: Any) -> None:
    """Train and evaluate K seeds; mean and 95% CI of every figure, paired differences.

    Resumable: run it again to finish an interrupted study.

    Example: semanticnn study --seeds 5 --out runs/study
    """
    from semanticnn.eval.study import run_study

    cfg = _config(kwargs)
    try:
        result = run_study(cfg, out, seeds, repeats, split, jobs)
    except (FileExistsError, FileNotFoundError, NotADirectoryError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    _print_report(result)
    click.echo(f"wrote {out / 'study.json'} and {out / 'study.png'}")


def _export(run_dir: Path, path: Path) -> float:
    import torch

    from semanticnn.data import load_dataset
    from semanticnn.export import check_export, export_encoder, write_test_images

    run = _load(run_dir)
    export_encoder(run.aware.encoder, tuple(run.info["input_shape"]), path, run.aware.gray)
    x = torch.from_numpy(load_dataset(run.config.dataset).test.x)
    images = write_test_images(path, x)
    check = check_export(run.aware.encoder, path, x)
    click.echo(
        f"wrote {path}: the Rust int8 encoder reproduces {check.matching}/{check.values} "
        f"fake-quant PyTorch symbols ({100 * check.fraction:.3f}%) on the test set"
    )
    click.echo(f"wrote {images}: the first test images, baked by `semanticnn firmware build`")
    if check.fraction < 0.999:
        raise click.ClickException("export check failed: fewer than 99.9% of symbols match")
    return check.fraction


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path), default=DEFAULT_RUN)
@click.option(
    "--out",
    "path",
    type=click.Path(path_type=Path),
    default=None,
    help="Model file (default RUN_DIR/encoder.safetensors).",
)
def export(run_dir: Path, path: Path | None) -> None:
    """Write the int8 encoder model file and check the Rust encoder against PyTorch."""
    _export(run_dir, path or run_dir / "encoder.safetensors")


@click.command("demo")
@_out
@_repeats
@_threads_opt
def demo(out: Path, repeats: int, threads: int) -> None:
    """Train (or reuse a finished run), evaluate, export: the README's main job."""
    from semanticnn.train import train_run

    _threads(threads)
    t0 = time.perf_counter()
    finished = (out / "model.pt").exists()
    resume = finished or (out / "checkpoint.pt").exists()
    click.echo(f"[demo] {'reusing' if finished else 'training'} the run in {out}")
    try:
        train_run(TrainConfig(), out, resume=resume)
    except (FileExistsError, ValueError) as e:
        raise click.ClickException(f"{e} (remove {out} to start afresh)") from e
    t1 = time.perf_counter()
    report = _evaluate(out, out, repeats)
    t2 = time.perf_counter()
    fraction = _export(out, out / "encoder.safetensors")
    report["export_symbol_match"] = fraction
    report["demo_seconds"] = {"train": t1 - t0, "eval": t2 - t1, "export": time.perf_counter() - t2}
    from semanticnn.eval import write_report

    write_report(report, out / "report.json")
    _print_report(report)
    click.echo(json.dumps({k: round(v, 1) for k, v in report["demo_seconds"].items()}))
    click.echo(f"wrote {out / 'report.json'}, {out / 'report.png'}, {out / 'encoder.safetensors'}")
