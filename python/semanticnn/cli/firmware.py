"""The device side: `firmware build|emulate|bench` and `flash`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from semanticnn.firmware.boards import board
from semanticnn.firmware.build import Built, build
from semanticnn.firmware.emulate import EMULATE_TIMEOUT_S, run_encoder
from semanticnn.fsutil import write_bytes_atomic
from semanticnn.paths import BAKED_IMAGES, IMAGES_SUFFIX

from . import options

images = click.option(
    "--images",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"uint8 (N, H, W, C) .npy of test images to bake (the first {BAKED_IMAGES}); "
    f"default: <model>{IMAGES_SUFFIX} beside the model.",
)
timeout = click.option(
    "--timeout",
    type=float,
    default=EMULATE_TIMEOUT_S,
    show_default=True,
    help="Seconds before a hung firmware is stopped.",
)


def _build(board_name: str, model: Path | None, images: Path | None) -> Built:
    b = board(board_name)
    click.echo(f"building the encoder for {b.name} ({b.cpu}) ...", err=True)
    env = {"SEMANTICNN_IMAGES": str(images.resolve())} if images else None
    built = build(b, model=model, env=env)
    click.echo(f"{built.board.name}: {built.usage.describe()}", err=True)
    return built


@click.group()
def firmware() -> None:
    """The STM32 firmware: build it, run it in QEMU, benchmark its kernels.

    \b
    Example:
      semanticnn firmware emulate --board netduinoplus2 --out frames.bin
    """


@firmware.command("build")
@options.board
@options.model
@images
def build_cmd(board_name: str, model: Path | None, images: Path | None) -> None:
    """Build the encoder firmware; print the ELF path (flash and RAM use on stderr).

    \b
    Example:
      semanticnn firmware build --board nucleo-f746zg --model runs/mnist5k/encoder.safetensors
    """
    click.echo(_build(board_name, model, images).elf)


@firmware.command()
@options.board
@options.model
@images
@options.frames_out
@click.option(
    "--input",
    "stream_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="uint8 (N, H, W, C) .npy streamed to the firmware's UART; its frames are "
    "written instead of the baked images'.",
)
@options.as_json
@timeout
def emulate(
    board_name: str,
    model: Path | None,
    images: Path | None,
    out: Path,
    stream_path: Path | None,
    as_json: bool,
    timeout: float,
) -> None:
    """Run the encoder firmware in qemu-system-arm; write the frames it emits.

    \b
    Example:
      semanticnn firmware emulate --board netduinoplus2 --out frames.bin --json
    """
    from semanticnn.npy import read_images

    streamed = read_images(stream_path) if stream_path else None
    built = _build(board_name, model, images)
    run = run_encoder(built.elf, built.board, timeout=timeout, images=streamed)
    frames, instructions, macs = run.frames, run.instructions, run.macs
    write_bytes_atomic(out, b"".join(frames))
    mean = run.mean_instructions
    summary = {
        "board": built.board.name,
        "elf": str(built.elf),
        "out": str(out),
        "frames": len(frames),
        "frame_bytes": [len(f) for f in frames],
        "instructions_per_inference": [round(x) for x in instructions],
        "mean_instructions_per_inference": round(mean),
        "macs_per_inference": macs,
        "instructions_per_mac": mean / macs if macs else None,
        "flash_bytes": built.usage.flash,
        "static_ram_bytes": built.usage.ram,
        "stack_peak_bytes": run.stack_peak,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{len(frames)} frames ({sum(map(len, frames))} bytes) written to {out}")
    if instructions:
        per_mac = f", {mean / macs:.2f} instructions/MAC ({macs} MACs)" if macs else ""
        click.echo(f"{mean:,.0f} instructions per inference{per_mac}")


@firmware.command("bench")
@options.as_json
@timeout
def bench_cmd(as_json: bool, timeout: float) -> None:
    """Instructions per MAC (per element for add, per output for average pool) of the
    core crate's int8 kernels on the Cortex-M4 (QEMU), next to CMSIS-NN's measured the
    same way, with the ratio and whether each row meets its target.

    \b
    Example:
      semanticnn firmware bench --json
    """
    from semanticnn.firmware.bench import format_table, run_bench

    click.echo("building and running the kernel benchmark (netduinoplus2, QEMU) ...", err=True)
    rows = run_bench(timeout=timeout)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(format_table(rows))
        missed = [str(r["layer"]) for r in rows if not r["met"]]
        click.echo(
            f"targets met: {len(rows) - len(missed)} of {len(rows)}"
            + (f" (missed: {', '.join(missed)})" if missed else "")
        )
        click.echo("outputs checked against the host's integer reference: identical")


@click.command()
@options.board
@options.model
@images
@click.option("--chip", default=None, help="probe-rs chip name (default: the board's).")
@click.option("--probe", default=None, help="probe-rs probe selector VID:PID[:serial].")
def flash(
    board_name: str, model: Path | None, images: Path | None, chip: str | None, probe: str | None
) -> None:
    """Build the encoder firmware and flash it with probe-rs.

    \b
    Example:
      semanticnn flash --board nucleo-f746zg
    """
    from semanticnn.firmware.flash import flash as flash_elf

    built = _build(board_name, model, images)
    click.echo(flash_elf(built.elf, built.board, chip=chip, probe=probe))
