"""`semanticnn firmware build|emulate|bench` and `semanticnn flash`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click

from .boards import BOARDS, board
from .build import Built, FirmwareError, build
from .emulate import EMULATE_TIMEOUT_S, run_elf
from .flash import flash as flash_elf

board_option = click.option(
    "--board", "board_name", type=click.Choice(sorted(BOARDS)), required=True, help="Target board."
)
model_option = click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Encoder model (.safetensors) to bake in; default: the build script's choice.",
)


def _build(board_name: str, model: Path | None, bin_name: str = "encoder") -> Built:
    b = board(board_name)
    click.echo(f"building {bin_name} for {b.name} ({b.cpu}) ...", err=True)
    try:
        built = build(b, bin_name=bin_name, model=model)
    except FirmwareError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{built.board.name}: {built.usage.describe()}", err=True)
    return built


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@click.group()
def firmware() -> None:
    """The STM32 firmware: build it, run it in QEMU, benchmark its kernels."""


@firmware.command("build")
@board_option
@model_option
def build_cmd(board_name: str, model: Path | None) -> None:
    """Build the encoder firmware; print the ELF path (flash and RAM use on stderr)."""
    click.echo(_build(board_name, model).elf)


@firmware.command()
@board_option
@model_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the emitted wire frames, back to back.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.option("--timeout", type=float, default=EMULATE_TIMEOUT_S, show_default=True,
              help="Seconds before a hung firmware is stopped.")  # fmt: skip
def emulate(board_name: str, model: Path | None, out: Path, as_json: bool, timeout: float) -> None:
    """Run the encoder firmware in qemu-system-arm; write the frames it emits."""
    built = _build(board_name, model)
    try:
        run = run_elf(built.elf, built.board, timeout=timeout)
        frames = [bytes.fromhex(r.fields.get("hex", "")) for r in run.of("FRAME")]
        instructions = [run.instructions(r.int("ticks")) for r in run.of("FRAME")]
        macs = run.of("MODEL")[0].int("macs") if run.of("MODEL") else 0
        stack = run.of("STACK")[0].int("peak") if run.of("STACK") else None
    except (FirmwareError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    write_atomic(out, b"".join(frames))
    mean = sum(instructions) / len(instructions) if instructions else 0.0
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
        "stack_peak_bytes": stack,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"{len(frames)} frames ({sum(map(len, frames))} bytes) written to {out}")
    if instructions:
        per_mac = f", {mean / macs:.2f} instructions/MAC ({macs} MACs)" if macs else ""
        click.echo(f"{mean:,.0f} instructions per inference{per_mac}")


@click.command()
@board_option
@model_option
@click.option("--chip", default=None, help="probe-rs chip name (default: the board's).")
@click.option("--probe", default=None, help="probe-rs probe selector VID:PID[:serial].")
def flash(board_name: str, model: Path | None, chip: str | None, probe: str | None) -> None:
    """Build the encoder firmware and flash it with probe-rs."""
    built = _build(board_name, model)
    try:
        click.echo(flash_elf(built.elf, built.board, chip=chip, probe=probe))
    except FirmwareError as e:
        raise click.ClickException(str(e)) from None
