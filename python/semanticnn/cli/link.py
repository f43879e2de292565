"""The link: `encode` frames on the host, `receive` them from a board, `channel-demo`."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from semanticnn.firmware.boards import BOARDS, board
from semanticnn.fsutil import write_bytes_atomic
from semanticnn.paths import DEFAULT_RUN

from . import options

if TYPE_CHECKING:
    from semanticnn.firmware.receive import LineSource


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
@options.frames_out
def encode(model: Path | None, images_path: Path, out: Path) -> None:
    """Encode images into wire frames on the host (the firmware's frames, bit for bit).

    \b
    Example:
      semanticnn encode --input runs/mnist5k/encoder_images.npy --out frames.bin
    """
    from semanticnn.firmware.frames import default_model, host_frames
    from semanticnn.npy import read_images

    images = read_images(images_path)
    frames = host_frames(model or default_model(), images)
    write_bytes_atomic(out, b"".join(frames))
    click.echo(f"{len(frames)} frames ({sum(map(len, frames))} bytes) written to {out}")


@click.command()
@click.option(
    "--port", default=None, help="Serial port of the board, e.g. /dev/ttyACM0 (or use --rtt)."
)
@click.option(
    "--rtt",
    is_flag=True,
    help="Read the frames over the debug probe instead (RTT channel 'frames', through "
    "`probe-rs attach`): the board needs only its USB cable.",
)
@click.option(
    "--board",
    "board_name",
    type=click.Choice(sorted(n for n, b in BOARDS.items() if b.rtt)),
    default=None,
    help="With --rtt: the board (its chip, and its last `firmware build`/`flash` ELF).",
)
@click.option(
    "--elf",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="With --rtt: the ELF the board runs (default: the board's last build).",
)
@click.option("--probe", default=None, help="With --rtt: probe-rs probe selector VID:PID[:serial].")
@click.option(
    "--baud", type=int, default=115200, show_default=True, help="Baud rate of the board's UART."
)
@click.option(
    "--run",
    "run_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_RUN,
    show_default=True,
    help="Trained run whose decoder and tail predict (not used with --publish).",
)
@click.option(
    "--ber",
    type=click.FloatRange(0, 1),
    default=None,
    help="Bit error rate the BER-aware decoder is told (default: the link's running "
    "estimate from the frames' header Golay corrections and pilots, "
    "semanticnn.ber_estimate).",
)
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after this many frames.")
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for a frame."
)
@click.option(
    "--publish",
    default=None,
    help="Gateway mode: forward each frame to this MQTT broker (mqtt://HOST:PORT) on "
    "snn/<device>/up for `semanticnn serve`, instead of decoding it here.",
)
@click.option("--device", default="board", show_default=True,
              help="The board's device name on the broker (with --publish).")  # fmt: skip
def receive(
    port: str | None,
    rtt: bool,
    board_name: str | None,
    elf: Path | None,
    probe: str | None,
    baud: int,
    run_dir: Path,
    ber: float | None,
    count: int | None,
    timeout: float,
    publish: str | None,
    device: str,
) -> None:
    """Read frames from a board over its serial port (or its debug probe, --rtt) and
    print the edge's predictions, or with --publish forward them to the edge service
    over MQTT.

    \b
    Example:
      semanticnn receive --port /dev/ttyACM0 --run runs/mnist5k
      semanticnn receive --rtt --board nucleo-f746zg --run runs/mnist5k
      semanticnn receive --port /dev/ttyACM0 --publish mqtt://127.0.0.1:1883
    """
    from semanticnn.firmware.receive import read_frames

    if (port is None) == (not rtt):
        raise click.UsageError("give exactly one of --port and --rtt")
    if not rtt and (board_name or elf or probe):
        raise click.UsageError("--board, --elf and --probe go with --rtt")
    if rtt and board_name is None:
        raise click.UsageError("--rtt needs --board (the chip, and the ELF it runs)")
    if publish is not None:
        from semanticnn.edge.broker import parse_broker
        from semanticnn.edge.mqtt import check_device

        parse_broker(publish)
        check_device(device)
    with _frame_source(port, baud, board_name, elf, probe) as source:
        frames = read_frames(source, count=count, timeout=timeout)
        if publish is not None:
            from semanticnn.edge.gateway import forward

            n = forward(frames, publish, device)
            click.echo(f"{n} frames forwarded to {publish} as {device}")
            return
        from semanticnn.ber_estimate import LinkEstimate
        from semanticnn.firmware.receive import predict
        from semanticnn.train import load_run

        run = load_run(run_dir)
        link = LinkEstimate()
        for i, frame in enumerate(frames):
            (label,) = predict(run.aware, [frame], ber, link)
            click.echo(f"frame {i}: {len(frame)} bytes -> class {label}")


def _frame_source(
    port: str | None, baud: int, board_name: str | None, elf: Path | None, probe: str | None
) -> AbstractContextManager[LineSource]:
    """The board's record lines: its serial port, or its RTT frames channel."""
    if port is not None:
        import serial

        try:
            return serial.Serial(port, baud, timeout=0.5)
        except serial.SerialException as e:
            raise click.ClickException(f"port {port}: {e}") from None
    from semanticnn.firmware.build import built_elf
    from semanticnn.firmware.flash import attach_command
    from semanticnn.firmware.receive import RttLines

    assert board_name is not None  # checked by the caller
    b = board(board_name)
    elf = elf or built_elf(b)
    if not elf.is_file():
        raise click.ClickException(
            f"no ELF for {b.name} at {elf}: run `semanticnn flash --board {b.name}` (or give --elf)"
        )
    return RttLines(attach_command(elf, b, probe=probe))


@click.command("channel-demo")
@click.option(
    "--frames",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Frames per channel model.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of symbols and channels."
)
def channel_demo(frames: int, seed: int) -> None:
    """Send frames of packed symbols through each channel model; print header survival
    and the receivers' BER estimates.

    \b
    Example:
      semanticnn channel-demo --frames 1000
    """
    from semanticnn.channel_demo import COUNT, NBITS, PILOT_BITS, run_demo
    from semanticnn.frame import encoded_len

    click.echo(
        f"{frames} frames per model: {COUNT} symbols x {NBITS} bits, Gray, "
        f"{PILOT_BITS}-bit pilot, {encoded_len(COUNT, NBITS, PILOT_BITS)} bytes per frame"
    )
    click.echo(
        f"  {'channel':28s} {'true BER':>9s} {'headers ok':>11s} {'lost':>6s} "
        f"{'pilot BER':>10s} {'frame BER':>10s} {'symbol err':>10s}"
    )
    for r in run_demo(frames, seed):
        arrived = frames - r.lost
        ok = 100 * r.survived / arrived if arrived else 0.0
        pilot = r.pilot_estimates / r.survived if r.survived else float("nan")
        est = r.estimates / r.survived if r.survived else float("nan")
        ser = r.symbol_errors / r.symbols if r.symbols else float("nan")
        click.echo(
            f"  {r.name:28s} {r.true_ber:9.2e} {ok:10.2f}% {r.lost:6d} {pilot:10.2e} {est:10.2e} "
            f"{ser:10.2e}"
        )
