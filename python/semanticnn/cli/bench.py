"""`bench channel`, `bench encoder`, `bench serve`, `bench train` and `bench tflite`: the
project's figure beside a baseline of the same run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from semanticnn.bench.timing import CLOCKS
from semanticnn.models.architecture import MODELS
from semanticnn.train.config import DEVICES

from . import options


@click.group()
def bench() -> None:
    """Benchmarks that print the project's figure beside a baseline from the same run.

    \b
    Example:
      semanticnn bench channel --repeats 5
    """


@bench.command("channel")
@click.option("--mib", type=click.IntRange(1), default=64, show_default=True,
              help="Buffer size in MiB.")  # fmt: skip
@click.option("--repeats", type=click.IntRange(1), default=3, show_default=True,
              help="Timed runs per row (median).")  # fmt: skip
@click.option(
    "--clock",
    type=click.Choice(sorted(CLOCKS)),
    default="wall",
    show_default=True,
    help="wall time, or this thread's CPU time (steadier on a busy machine).",
)
@options.as_json
def channel(mib: int, repeats: int, clock: str, as_json: bool) -> None:
    """Channel models and bit packing (single thread) against memcpy and naive numpy;
    the 2-thread speed-up; a batch of frames in one call against a Python loop.

    \b
    Example:
      semanticnn bench channel --repeats 5 --clock cpu
    """
    from semanticnn.bench.channel import run_bench

    r = run_bench(mib, repeats, clock)
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    click.echo(f"channel: {mib} MiB buffer, 1 thread, {clock} clock (naive numpy: 1 MiB slice)")
    for name, gbs in r["gb_per_s"].items():
        click.echo(f"  {name:22s} {gbs:8.3f} GB/s  {r['ratio_vs_memcpy'][name]:8.3f}x memcpy")
    f = r["frames"]
    click.echo(
        f"  {f['count']:,} frames of {f['bytes']} B: bsc_rows {f['bsc_rows_seconds'] * 1e3:.1f} ms,"
        f" a Python loop of bsc {f['python_loop_seconds'] * 1e3:.1f} ms"
    )
    for t in r["targets"]:
        mark = "ok" if t["met"] else "MISSED"
        click.echo(f"  {t['name']:30s} {t['ratio']:9.2f}x (target >= {t['target']:g}) {mark}")


@bench.command("serve")
@options.run_dir_argument
@click.option("--devices", type=click.IntRange(1), default=1000, show_default=True,
              help="Simulated devices.")  # fmt: skip
@click.option("--seconds", type=click.FloatRange(min=0.5), default=5.0, show_default=True,
              help="Seconds of sending per rate (and of the raw decoder's timing).")  # fmt: skip
@click.option("--max-batch", type=click.IntRange(1), default=64, show_default=True,
              help="The service's largest batch.")  # fmt: skip
@click.option("--max-wait-ms", type=click.FloatRange(0), default=5.0, show_default=True,
              help="The service's longest wait for a batch to fill.")  # fmt: skip
@options.as_json
def serve(
    run_dir: Path, devices: int, seconds: float, max_batch: int, max_wait_ms: float, as_json: bool
) -> None:
    """The edge service: the raw batched decoder's frames/s, then end to end through a
    broker of its own with simulated devices at rising rates: the highest sustained,
    p50/p99 latency at half of it, and no frame lost across a broker restart.

    \b
    Example:
      semanticnn bench serve runs/mnist5k --devices 1000
    """
    from semanticnn.bench.serve import format_lines, run_bench

    r = run_bench(run_dir, devices, seconds, max_batch, max_wait_ms)
    click.echo(json.dumps(r, indent=2) if as_json else "\n".join(format_lines(r)))


@bench.command("encoder")
@click.option("--batch", type=click.IntRange(1), default=256, show_default=True,
              help="Images per batch.")  # fmt: skip
@click.option("--threads", type=click.IntRange(1), default=None,
              help="Threads for Rust and PyTorch [all cores].")  # fmt: skip
@click.option("--repeats", type=click.IntRange(1), default=11, show_default=True,
              help="Timed runs of each row, in turns (median).")  # fmt: skip
@options.as_json
def encoder(batch: int, threads: int | None, repeats: int, as_json: bool) -> None:
    """int8 Rust encoder vs float32 PyTorch, LiteRT and the numpy reference (same model).

    \b
    Example:
      semanticnn bench encoder --threads 2
    """
    from semanticnn.bench.encoder import run_bench

    r = run_bench(batch=batch, threads=threads, repeats=repeats)
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    click.echo(
        f"encoder: batch {r['batch']}, {r['threads']} threads, "
        f"{r['macs_per_image'] / 1e6:.2f} MMAC/image"
    )
    k = r["rust_kernel"]
    rows = {f"rust_int8 ({name})": v for name, v in r["rust_int8_by_kernel"].items()}
    rows[f"rust_int8 latent ({k})"] = r["rust_int8_latent"]
    rows |= {name: r[name] for name in ("torch_float32", "litert_xnnpack", "numpy_reference")}
    for name, v in rows.items():
        click.echo(
            f"  {name:26s} {v['images_per_s']:10.0f} images/s {v['mac_per_s'] / 1e9:8.2f} GMAC/s"
        )
    click.echo(f"  rust ({k}) / torch  {r['ratio_vs_torch']:.2f}x (target >= 1.0)")
    click.echo(
        f"  rust latent ({k}) / litert {r['ratio_vs_litert']:.2f}x (target >= 1.0; the same "
        f"work; with the head {r['ratio_vs_litert_with_head']:.2f}x)"
    )
    click.echo(f"  rust ({k}) / numpy  {r['ratio_vs_numpy']:.1f}x (target >= 20)")
    click.echo(f"  rust == numpy reference: {r['rust_equals_reference']}")
    click.echo(f"  LiteRT (XNNPACK) latents equal to Rust's: {100 * r['litert_latent_equal']:.3f}%")


@bench.command("train")
@click.option("--model", type=click.Choice(MODELS), default="tiny", show_default=True,
              help="Zoo model (its default split), on 28x28x1 images, 10 classes.")  # fmt: skip
@click.option("--batch", type=click.IntRange(1), default=64, show_default=True,
              help="Images per training step.")  # fmt: skip
@click.option("--repeats", type=click.IntRange(1), default=5, show_default=True,
              help="Timed steps per row (median), after two warm-up steps.")  # fmt: skip
@click.option("--threads", type=click.IntRange(1), default=None,
              help="torch CPU threads for both rows [all cores].")  # fmt: skip
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where both steps run (auto: the GPU where one exists).")  # fmt: skip
@options.as_json
def train(
    model: str, batch: int, repeats: int, threads: int | None, device: str, as_json: bool
) -> None:
    """A QAT training step (exact int8 forward) against the same step in float PyTorch.

    One stage-2 step each (forward through the encoder with its frozen head, the
    channel, the BER-aware decoder and the tail; cross-entropy; backward; Adam), same
    weights, batch and threads.

    \b
    Example:
      semanticnn bench train --model mobilenetv2-0.35 --threads 2
    """
    from semanticnn.bench.train import run_bench

    r = run_bench(model, batch, repeats, threads, device)
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    click.echo(
        f"train step: {r['model']}, batch {r['batch']}, {r['threads']} threads, {r['device']}"
    )
    for name in ("qat", "float"):
        v = r[name]
        click.echo(
            f"  {name:6s} {v['seconds'] * 1e3:10.1f} ms/step {v['images_per_s']:10.1f} images/s"
        )
    mark = {True: "ok", False: "MISSED", None: "(the target is the CPU's)"}[r["met"]]
    click.echo(f"  qat / float {r['ratio']:.2f}x (target <= {r['target']:g}) {mark}")


@bench.command("tflite")
@click.option("--layers", "layers_per_op", type=click.IntRange(1), default=150,
              show_default=True, help="Random layers per op.")  # fmt: skip
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seed of the random layers.")  # fmt: skip
@options.as_json
def tflite(layers_per_op: int, seed: int, as_json: bool) -> None:
    """Agreement with LiteRT's reference kernels on random int8 layers of every op: the
    Rust encoder (each kernel) and the numpy reference must give every value; LiteRT's
    optimized and XNNPACK kernels are measured.

    \b
    Example:
      semanticnn bench tflite --layers 150
    """
    from semanticnn.bench.tflite import run_bench, table

    r = run_bench(layers_per_op, seed, progress=not as_json)
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    for line in table(r):
        click.echo(line)
