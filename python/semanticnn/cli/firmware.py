"""The device side: `firmware build|emulate|bench` and `flash`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from semanticnn.firmware.boards import Board, board
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


def _images_env(images: Path | None) -> dict[str, str] | None:
    return {"SEMANTICNN_IMAGES": str(images.resolve())} if images else None


def _build(board_name: str, model: Path | None, images: Path | None) -> Built:
    b = board(board_name)
    click.echo(f"building the encoder for {b.name} ({b.cpu}) ...", err=True)
    built = build(b, model=model, env=_images_env(images))
    click.echo(f"{built.board.name}: {built.usage.describe()}", err=True)
    click.echo(f"{built.board.name}: {_describe_clock(built.board)}", err=True)
    return built


def _describe_clock(b: Board) -> str:
    c = b.clock
    source = "HSI via PLL M/N/P/Q {}/{}/{}/{}".format(*c.pll) if c.pll else "HSI, no PLL"
    overdrive = ", over-drive" if c.overdrive else ""
    wait = f"{c.flash_wait_states} flash wait states"
    return f"{c.sysclk_hz / 1e6:g} MHz ({source}, {wait}{overdrive}); caches: {b.caches}"


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
@click.option(
    "--estimate/--no-estimate",
    default=True,
    show_default=True,
    help="Also run the model on the QEMU board and print the expected milliseconds per "
    "image at the board's clock (a lower bound).",
)
def build_cmd(board_name: str, model: Path | None, images: Path | None, estimate: bool) -> None:
    """Build the encoder firmware; print the ELF path (flash and RAM use, the clock and
    the expected time per image on stderr).

    \b
    Example:
      semanticnn firmware build --board nucleo-f746zg --model runs/mnist5k/encoder.safetensors
    """
    from semanticnn.firmware.build import FirmwareError
    from semanticnn.firmware.estimate import expected

    built = _build(board_name, model, images)
    if estimate:
        try:
            time = expected(built.board, model, _images_env(images))
            click.echo(f"{built.board.name}: {time.describe()}", err=True)
        except FirmwareError as e:
            click.echo(f"{built.board.name}: no time estimate: {e}", err=True)
    click.echo(built.elf)


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
@click.option(
    "--attach",
    is_flag=True,
    help="After flashing, stay attached (`probe-rs attach`) and show the board's defmt "
    "log lines and records over RTT until Ctrl-C.",
)
def flash(
    board_name: str,
    model: Path | None,
    images: Path | None,
    chip: str | None,
    probe: str | None,
    attach: bool,
) -> None:
    """Build the encoder firmware and flash it with probe-rs.

    \b
    Example:
      semanticnn flash --board nucleo-f746zg --attach
    """
    import subprocess

    from semanticnn.firmware.flash import attach_command, check_chip
    from semanticnn.firmware.flash import flash as flash_elf

    b = board(board_name)
    chip = check_chip(b, chip)  # before a build that could not be flashed
    if attach and not b.rtt:
        raise click.UsageError(f"--attach: board {b.name} has no RTT (its output is {b.output})")
    built = _build(board_name, model, images)
    click.echo(flash_elf(built.elf, built.board, chip=chip, probe=probe))
    if attach:
        cmd = attach_command(built.elf, built.board, chip=chip, probe=probe)
        click.echo(f"attached: {' '.join(cmd)} (Ctrl-C ends)", err=True)
        proc = subprocess.Popen(cmd)
        try:
            proc.wait()
        except KeyboardInterrupt:
            # probe-rs got the Ctrl-C too: let it hand the board's RTT channels
            # back to non-blocking before it exits, or the board would stall.
            proc.wait(timeout=30)
