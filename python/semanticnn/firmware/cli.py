"""`semanticnn firmware build|emulate|bench` and `semanticnn flash`."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from ..fsutil import write_atomic
from .boards import BOARDS, board
from .build import Built, FirmwareError, build
from .emulate import EMULATE_TIMEOUT_S, image_stream, run_elf
from .flash import flash as flash_elf
from .frames import default_model, host_frames

board_option = click.option(
    "--board", "board_name", type=click.Choice(sorted(BOARDS)), required=True, help="Target board."
)
model_option = click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Encoder model (.safetensors) to bake in; default: the build script's choice.",
)


images_option = click.option(
    "--images",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="uint8 (N, H, W, C) .npy of test images to bake (first 16); "
    "default: <model>_images.npy beside the model.",
)


def _build(board_name: str, model: Path | None, images: Path | None) -> Built:
    b = board(board_name)
    click.echo(f"building the encoder for {b.name} ({b.cpu}) ...", err=True)
    env = {"SEMANTICNN_IMAGES": str(images.resolve())} if images else None
    try:
        built = build(b, model=model, env=env)
    except FirmwareError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{built.board.name}: {built.usage.describe()}", err=True)
    return built


def write_bytes_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, lambda p: p.write_bytes(data))


@click.group()
def firmware() -> None:
    """The STM32 firmware: build it, run it in QEMU, benchmark its kernels."""


@firmware.command("build")
@board_option
@model_option
@images_option
def build_cmd(board_name: str, model: Path | None, images: Path | None) -> None:
    """Build the encoder firmware; print the ELF path (flash and RAM use on stderr)."""
    click.echo(_build(board_name, model, images).elf)


@firmware.command()
@board_option
@model_option
@images_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the emitted wire frames, back to back.",
)
@click.option(
    "--input",
    "stream_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="uint8 (N, H, W, C) .npy streamed to the firmware's UART; its frames are "
    "written instead of the baked images'.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
@click.option("--timeout", type=float, default=EMULATE_TIMEOUT_S, show_default=True,
              help="Seconds before a hung firmware is stopped.")  # fmt: skip
def emulate(
    board_name: str, model: Path | None, images: Path | None, out: Path,
    stream_path: Path | None, as_json: bool, timeout: float,
) -> None:  # fmt: skip
    """Run the encoder firmware in qemu-system-arm; write the frames it emits."""
    built = _build(board_name, model, images)
    try:
        streamed = np.load(stream_path, allow_pickle=False) if stream_path else None
        run = run_elf(built.elf, built.board, timeout=timeout, stream=image_stream(streamed))
        src = "uart" if stream_path else "baked"
        records = [r for r in run.of("FRAME") if r.fields.get("src") == src]
        frames = [bytes.fromhex(r.fields.get("hex", "")) for r in records]
        instructions = [run.instructions(r.int("ticks")) for r in records]
        macs = run.of("MODEL")[0].int("macs") if run.of("MODEL") else 0
        stack = run.of("STACK")[0].int("peak") if run.of("STACK") else None
    except (FirmwareError, OSError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    write_bytes_atomic(out, b"".join(frames))
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


@firmware.command("bench")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.option("--timeout", type=float, default=EMULATE_TIMEOUT_S, show_default=True,
              help="Seconds before a hung firmware is stopped.")  # fmt: skip
def bench_cmd(as_json: bool, timeout: float) -> None:
    """Instructions per MAC of the core crate's int8 3x3 conv on the Cortex-M4 (QEMU),
    next to CMSIS-NN's arm_convolve_s8 and plain C measured the same way."""
    from .bench import format_table, run_bench

    click.echo("building and running the kernel benchmark (netduinoplus2, QEMU) ...", err=True)
    try:
        rows = run_bench(timeout=timeout)
    except FirmwareError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(format_table(rows))
        click.echo("outputs checked against the host's integer reference: identical")


@click.command()
@board_option
@model_option
@images_option
@click.option("--chip", default=None, help="probe-rs chip name (default: the board's).")
@click.option("--probe", default=None, help="probe-rs probe selector VID:PID[:serial].")
def flash(
    board_name: str, model: Path | None, images: Path | None, chip: str | None, probe: str | None
) -> None:
    """Build the encoder firmware and flash it with probe-rs."""
    built = _build(board_name, model, images)
    try:
        click.echo(flash_elf(built.elf, built.board, chip=chip, probe=probe))
    except FirmwareError as e:
        raise click.ClickException(str(e)) from None


@click.command()
@click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Encoder model (.safetensors); default: the one `firmware build` bakes.",
)
@click.option(
    "--input",
    "images_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="uint8 images, (N, H, W, C) .npy.",
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the frames, back to back.")  # fmt: skip
def encode(model: Path | None, images_path: Path, out: Path) -> None:
    """Encode images into wire frames on the host (the firmware's frames, bit for bit)."""
    model = model or default_model()
    try:
        images = np.load(images_path, allow_pickle=False)
        frames = host_frames(model, images)
    except (OSError, ValueError, TypeError) as e:
        raise click.ClickException(f"encode: {e}") from None
    write_bytes_atomic(out, b"".join(frames))
    click.echo(f"{len(frames)} frames ({sum(map(len, frames))} bytes) written to {out}")


@click.command()
@click.option("--port", required=True, help="Serial port of the board, e.g. /dev/ttyACM0.")
@click.option("--baud", type=int, default=115200, show_default=True)
@click.option("--run", "run_dir", type=click.Path(path_type=Path), default=Path("runs/mnist5k"),
              show_default=True, help="Trained run whose decoder and tail predict.")  # fmt: skip
@click.option("--ber", type=click.FloatRange(0, 1), default=None,
              help="Bit error rate the BER-aware decoder is told "
              "(default: the link's running estimate from the frames' header "
              "Golay corrections and pilots, semanticnn.ber_estimate).")  # fmt: skip
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after this many frames.")
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for a frame.")  # fmt: skip
def receive(
    port: str, baud: int, run_dir: Path, ber: float | None, count: int | None, timeout: float
) -> None:
    """Read frames from a board over its serial port and print the edge's predictions."""
    import serial

    from ..ber_estimate import LinkEstimate
    from ..train import load_run
    from .receive import predict, read_frames

    try:
        run = load_run(run_dir)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from None
    try:
        ser = serial.Serial(port, baud, timeout=0.5)
    except serial.SerialException as e:
        raise click.ClickException(f"port {port}: {e}") from None
    link = LinkEstimate()
    with ser:
        try:
            for i, frame in enumerate(read_frames(ser, count=count, timeout=timeout)):
                (label,) = predict(run.aware, [frame], ber, link)
                click.echo(f"frame {i}: {len(frame)} bytes -> class {label}")
        except (FirmwareError, ValueError) as e:
            raise click.ClickException(str(e)) from None
