"""The training side: `train`, `eval`, `study`, `export`, `import-tflite`, `demo`."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from semanticnn.firmware.boards import BOARDS
from semanticnn.models.architecture import MODELS
from semanticnn.paths import ENCODER_FILE, TFLITE_FILE
from semanticnn.train.config import DEVICES, TrainConfig

from . import options

if TYPE_CHECKING:
    import torch

    from semanticnn.eval.records import LinkRecord, Report
    from semanticnn.eval.zoo import ZooRow
    from semanticnn.export import ExportCheck


@click.command("train")
@options.out
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
@click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="Train on the CPU or a CUDA GPU (auto: the GPU where one exists).",
)
@options.threads
@options.config_options
def train(out: Path, resume: bool, device: str, threads: int, **kwargs: Any) -> None:
    """Train the base model and SemanticNN (BER-aware and BER-blind) into --out.

    Runs under `torchrun --nproc_per_node=N` with DistributedDataParallel too.

    \b
    Examples:
      semanticnn train --out runs/cifar --dataset cifar10:~/data/cifar-10-batches-py
      semanticnn train --out runs/mbv2 --model mobilenetv2-0.35 --split block3
    """
    from semanticnn.train import train_run

    options.set_threads(threads)
    path = train_run(options.pop_config(kwargs), out, resume=resume, device=device)
    click.echo(f"trained: {path}")


def _load(run_dir: Path) -> Any:
    from semanticnn.train import load_run

    return load_run(run_dir)


def _short(link: LinkRecord) -> str:
    if link["kind"] == "gilbert_elliott":
        return "GE"
    return ("L" if link["kind"] == "lossy" else "") + f"{link['mean_ber']:g}"


def report_lines(report: Report) -> Iterator[str]:
    """The report (or study) as the table `eval` prints."""
    links = report["links"]
    width = max(len(s["label"]) for s in report["systems"].values()) + 1
    yield f"{'system':{width}s}{'bytes':>7s} " + " ".join(f"{_short(li):>7s}" for li in links)
    for s in report["systems"].values():
        size = "-" if not s["frame_bytes"] else str(round(s["bytes_on_air"][0]))
        yield f"{s['label']:{width}s}{size:>7s} " + " ".join(
            f"{100 * a:7.2f}" for a in s["accuracy"]
        )
        if ci95 := s.get("accuracy_ci95"):
            halves = " ".join(f"{100 * h:7.2f}" for h in ci95)
            yield f"{'  +- 95% CI':{width}s}{'':7s} {halves}"
    snn = report["systems"]["semanticnn"]
    yield (
        "(delivered accuracy %, a lost frame counts as wrong; "
        f"{report['samples']} {report['split']} images x {report['repeats']} channel seeds; "
        "bytes: on the air per inference at BER 0, "
        f"digital baselines with up to {report['retransmissions']} retransmissions; GE: "
        "Gilbert-Elliott bursts; L: 5% of frames lost and 5% cut short)"
    )
    yield "SemanticNN frames delivered %:  " + " ".join(f"{100 * d:6.2f}" for d in snn["delivery"])
    yield "SemanticNN payload-only acc %:  " + " ".join(
        f"{100 * a:6.2f}" for a in snn["payload_accuracy"] or []
    )
    yield (
        f"on-air compression {snn['compression_on_air']:.1f}x (payload only "
        f"{snn['compression_payload']:.1f}x) vs float32 split features"
    )
    for pair, d in report.get("paired", {}).items():
        half = d["ci95"] or [float("nan")] * len(d["mean"])
        diffs = " ".join(
            f"{100 * m:+.2f}+-{100 * h:.2f}" for m, h in zip(d["mean"], half, strict=True)
        )
        yield f"paired {pair}: {diffs}"
    for t in report["targets"]:
        yield f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['value']}"


def _print_report(report: Report) -> None:
    for line in report_lines(report):
        click.echo(line)


def _evaluate(
    run_dir: Path, repeats: int, eval_set: str = "test", retransmissions: int | None = None
) -> Report:
    """Evaluate the run in `run_dir`; write report.json and report.png into it."""
    from semanticnn.eval import evaluate_run, plot_report, write_report
    from semanticnn.eval.report import RETRANSMISSIONS

    arq = RETRANSMISSIONS if retransmissions is None else retransmissions
    report = evaluate_run(_load(run_dir), repeats=repeats, eval_set=eval_set, retransmissions=arq)
    write_report(report, run_dir / "report.json")
    plot_report(report, run_dir / "report.png")
    return report


@click.command("eval")
@options.run_dir_argument
@options.repeats
@options.eval_set
@click.option(
    "--retransmissions",
    type=click.IntRange(0, 15),
    default=None,
    help="Most retransmissions (ARQ) of the digital baselines' CRC frames, every attempt "
    "counted (default 3, 802.15.4's macMaxFrameRetries).",
)
@options.threads
def evaluate(
    run_dir: Path, repeats: int, eval_set: str, retransmissions: int | None, threads: int
) -> None:
    """Delivered accuracy of every system on every link; writes RUN_DIR/report.json and
    report.png.

    \b
    Example:
      semanticnn eval runs/mnist5k --repeats 10
    """
    options.set_threads(threads)
    _print_report(_evaluate(run_dir, repeats, eval_set, retransmissions))
    click.echo(f"wrote {run_dir / 'report.json'} and {run_dir / 'report.png'}")


@click.command("study")
@options.out_folder(
    Path("runs/study"), "Study folder (one run folder per seed, study.json, study.png)."
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
@options.repeats
@options.eval_set
@options.config_options
def study(out: Path, seeds: int, jobs: int, repeats: int, eval_set: str, **kwargs: Any) -> None:
    """Train and evaluate K seeds; mean and 95% CI of every figure, paired differences.

    Resumable: run it again to finish an interrupted study.

    \b
    Example:
      semanticnn study --seeds 5 --out runs/study
    """
    from semanticnn.eval.study import run_study

    result = run_study(options.pop_config(kwargs), out, seeds, repeats, eval_set, jobs)
    _print_report(result)
    click.echo(f"wrote {out / 'study.json'} and {out / 'study.png'}")


@click.command("zoo")
@options.out_folder(
    Path("runs/zoo"), "Zoo folder (one run folder per data set and model, zoo-<dataset>.json)."
)
@click.option(
    "--models",
    default=",".join(MODELS),
    show_default=True,
    help="Comma-separated zoo models, each at its default split point (or --split).",
)
@options.repeats
@click.option(
    "--board",
    "board_name",
    type=click.Choice(sorted(BOARDS)),
    default="netduinoplus2",
    show_default=True,
    help="Board the device half is built for (QEMU counts instructions on netduinoplus2).",
)
@click.option(
    "--split",
    default="",
    help="Split point for the models that have it (the others take their default).",
)
@functools.partial(options.config_options, without=("model", "split"))
def zoo(out: Path, models: str, repeats: int, board_name: str, split: str, **kwargs: Any) -> None:
    """Every zoo model on one data set: trained, evaluated as deployed, exported and run
    on the device in QEMU; one row each. Resumable.

    \b
    Example:
      semanticnn zoo --dataset digits --models tiny,resnet8 --repeats 3
    """
    from semanticnn.eval.zoo import run_zoo

    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown or not names:
        raise click.BadParameter(f"{unknown or models!r}; models: {', '.join(MODELS)}")
    rows = run_zoo(options.pop_config(kwargs), names, out, repeats, board_name, split)
    for line in zoo_lines(rows):
        click.echo(line)


def _or_dash(value: float | None, scale: float, spec: str) -> str:
    """`value * scale` formatted, or a dash where there is none (not run in QEMU)."""
    width = spec.split(".")[0]
    return f"{'-':>{width}s}" if value is None else format(value * scale, spec)


def zoo_lines(rows: list[ZooRow]) -> Iterator[str]:
    """The zoo as the table `zoo` prints."""
    yield (
        f"{'model':17s} {'split':7s} {'orig':>6s} {'0':>6s} {'1e-3':>6s} {'1e-2':>6s} "
        f"{'bytes':>5s} {'ratio':>6s} {'MMAC':>6s} {'flash':>7s} {'RAM':>7s} {'Minstr':>7s} "
        f"{'ms':>7s}"
    )
    for r in rows:
        a = r["accuracy"]
        device = (
            f"{_or_dash(r['macs'], 1e-6, '6.2f')} {r['flash_bytes']:7d} {r['ram_bytes']:7d} "
            f"{_or_dash(r['instructions'], 1e-6, '7.2f')} {_or_dash(r['ms_at_168mhz'], 1, '7.1f')}"
            if r["fits"]
            else f"does not fit {r['board']}: {r['message']}"
        )
        yield (
            f"{r['model']:17s} {r['split']:7s} {100 * r['original_accuracy']:6.2f} "
            f"{100 * a['0']:6.2f} {100 * a['0.001']:6.2f} {100 * a['0.01']:6.2f} "
            f"{r['frame_bytes']:5.0f} {r['compression_on_air']:5.0f}x {device}"
        )
        missed = [t for t, ok in r["targets"].items() if not ok]
        if missed:
            yield f"    MISSED: {'; '.join(missed)}"
    yield (
        "(accuracy %: the unsplit model clean, then SemanticNN delivered at BER 0, 1e-3, "
        "1e-2; bytes on the air per inference; ratio vs float32 split features; ms at "
        "168 MHz from QEMU's instruction count, a lower bound)"
    )


def _export_checked(run_dir: Path, path: Path) -> tuple[ExportCheck, Path, torch.Tensor]:
    """Write the model file of the run and its baked test images; check the Rust encoder
    against PyTorch on the test set (below 99.9% of symbols: an error). Returns the
    check, the baked images' file and the test set."""
    import torch

    from semanticnn.data import load_dataset
    from semanticnn.export import check_export, export_encoder, write_test_images

    run = _load(run_dir)
    export_encoder(run.aware.encoder, run.info.input_shape, path, run.aware.gray)
    x = torch.from_numpy(load_dataset(run.config.dataset).test.x)
    images = write_test_images(path, x)
    check = check_export(run.aware.encoder, path, x)
    if check.fraction < 0.999:
        raise click.ClickException(
            f"export check failed: the Rust int8 encoder reproduces {check.matching}/"
            f"{check.values} PyTorch symbols, fewer than 99.9%"
        )
    return check, images, x


def _agreement(check: ExportCheck) -> str:
    return (
        f"the Rust int8 encoder reproduces {check.matching}/{check.values} fake-quant "
        f"PyTorch symbols ({100 * check.fraction:.3f}%) on the test set"
    )


def _export(run_dir: Path, path: Path) -> float:
    check, images, _ = _export_checked(run_dir, path)
    click.echo(f"wrote {path}: {_agreement(check)}")
    click.echo(f"wrote {images}: the first test images, baked by `semanticnn firmware build`")
    return check.fraction


@click.command("export")
@options.run_dir_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["safetensors", "tflite"]),
    default="safetensors",
    show_default=True,
    help="safetensors: the model file the firmware bakes; tflite: the same encoder up to "
    "its int8 latent as a TFLite flatbuffer (head in its metadata), written once LiteRT's "
    "reference kernels reproduce the Rust latent (needs the tflite extra).",
)
@click.option(
    "--out",
    "path",
    type=click.Path(),
    default=None,
    callback=options.output_file,
    help=f"Output file (default RUN_DIR/{ENCODER_FILE}, or RUN_DIR/{TFLITE_FILE}).",
)
def export(run_dir: Path, fmt: str, path: Path | None) -> None:
    """Write the int8 encoder and check it: the Rust encoder against PyTorch, and the
    .tflite (--format tflite) against the Rust encoder in LiteRT.

    \b
    Examples:
      semanticnn export runs/mnist5k --out encoder.safetensors
      semanticnn export runs/mnist5k --format tflite --out encoder.tflite
    """
    if fmt == "safetensors":
        _export(run_dir, path or run_dir / ENCODER_FILE)
        return
    import tempfile

    from semanticnn.export import export_tflite, to_uint8_nhwc

    path = path or run_dir / TFLITE_FILE
    with tempfile.TemporaryDirectory() as tmp:  # the model file is a step, not an output
        model_file = Path(tmp) / ENCODER_FILE
        check, _, x = _export_checked(run_dir, model_file)
        size, lite, peers = export_tflite(model_file, path, to_uint8_nhwc(x))
    click.echo(f"wrote {path} ({size:,} bytes): {_agreement(check)}")
    click.echo(
        f"  LiteRT's reference kernels reproduce {lite.matching}/{lite.values} int8 latent "
        "values of the Rust encoder on the test set"
    )
    shares = [
        f"{name} " + ("refuses it" if c is None else f"{100 * c.fraction:.3f}%")
        for name, c in peers.items()
    ]
    click.echo(f"  (LiteRT's faster kernels round their own way: {', '.join(shares)})")


@click.command("import-tflite")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    "path",
    type=click.Path(),
    required=True,
    callback=options.output_file,
    help="Model file to write (.safetensors).",
)
@click.option(
    "--centers",
    default=None,
    help="Comma-separated real SQ centers (the head), e.g. -1.5,-0.5,0.5,1.5; default: the "
    "head in the file's semanticnn.head metadata (written by export --format tflite).",
)
@click.option(
    "--frac-bits", type=click.IntRange(0, 16), default=12, show_default=True,
    help="Fraction bits of the head's fixed point (with --centers).",
)  # fmt: skip
@click.option(
    "--power-norm/--no-power-norm", default=True, show_default=True,
    help="Normalize the latent to unit mean square before the centers (with --centers).",
)  # fmt: skip
@click.option("--gray", is_flag=True, help="Emit Gray-mapped center indices (with --centers).")
def import_tflite_cmd(
    source: Path, path: Path, centers: str | None, frac_bits: int, power_norm: bool, gray: bool
) -> None:
    """Convert an int8 TFLite encoder into the model file the Rust encoder and the
    firmware run. Ops, tensors or quantization the format cannot hold are refused by name.

    \b
    Example:
      semanticnn import-tflite encoder.tflite --centers=-1.5,-0.5,0.5,1.5 --out enc.safetensors
    """
    import numpy as np

    from semanticnn.export import import_tflite
    from semanticnn.int8 import Head, fixed_point_centers, from_tflite

    imported = from_tflite(source.read_bytes())
    head = None
    if centers is not None:
        try:
            real = np.array([float(c) for c in centers.split(",")])
        except ValueError:
            raise click.BadParameter(
                f"{centers!r} is not a comma-separated list of numbers"
            ) from None
        latent_scale = imported.latent_scale
        ints = fixed_point_centers(real, frac_bits, power_norm, latent_scale)
        if ints[0] < -(2**31) or ints[-1] >= 2**31:
            raise click.BadParameter(
                f"{centers!r} does not fit the head's int32 with {frac_bits} fraction bits "
                f"(latent scale {latent_scale:.6g}): give fewer --frac-bits"
            )
        head = Head(ints.astype(np.int32), frac_bits, power_norm, gray)
    model, from_metadata = import_tflite(source, imported, path, head)
    origin = "its metadata" if from_metadata else "--centers"
    click.echo(
        f"wrote {path}: {len(model.layers)} layers, {model.num_symbols} symbols of "
        f"{len(model.head.centers)} levels per image (head from {origin})"
    )


@click.command("demo")
@options.out
@options.repeats
@options.threads
def demo(out: Path, repeats: int, threads: int) -> None:
    """Train (or reuse a finished run), evaluate, export: the README's main job.

    \b
    Example:
      semanticnn demo --out runs/mnist5k
    """
    from semanticnn.eval import write_report
    from semanticnn.train import train_run

    options.set_threads(threads)
    t0 = time.perf_counter()
    finished = (out / "model.pt").exists()
    resume = finished or (out / "checkpoint.pt").exists()
    click.echo(f"[demo] {'reusing' if finished else 'training'} the run in {out}")
    try:
        train_run(TrainConfig(), out, resume=resume)
        t1 = time.perf_counter()
        report = _evaluate(out, repeats)  # reads model.pt: a run of an older format fails here
    except (FileExistsError, ValueError) as e:
        raise click.ClickException(f"{e} (remove {out} to start afresh)") from e
    t2 = time.perf_counter()
    fraction = _export(out, out / ENCODER_FILE)
    report["export_symbol_match"] = fraction
    report["demo_seconds"] = {"train": t1 - t0, "eval": t2 - t1, "export": time.perf_counter() - t2}
    write_report(report, out / "report.json")
    _print_report(report)
    click.echo(json.dumps({k: round(v, 1) for k, v in report["demo_seconds"].items()}))
    click.echo(f"wrote {out / 'report.json'}, {out / 'report.png'}, {out / ENCODER_FILE}")
