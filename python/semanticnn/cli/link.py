"""The link: `encode` frames on the host, `receive` them from a board, `channel-demo`."""

from __future__ import annotations

from pathlib import Path

import click

from semanticnn.fsutil import write_bytes_atomic
from semanticnn.paths import DEFAULT_RUN

from . import options


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
@click.option("--port", required=True, help="Serial port of the board, e.g. /dev/ttyACM0.")
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
    port: str,
    baud: int,
    run_dir: Path,
    ber: float | None,
    count: int | None,
    timeout: float,
    publish: str | None,
    device: str,
) -> None:
    """Read frames from a board over its serial port and print the edge's predictions,
    or with --publish forward them to the edge service over MQTT.

    \b
    Example:
      semanticnn receive --port /dev/ttyACM0 --run runs/mnist5k
      semanticnn receive --port /dev/ttyACM0 --publish mqtt://127.0.0.1:1883
    """
    import serial

    from semanticnn.firmware.receive import read_frames

    if publish is not None:
        from semanticnn.edge.broker import parse_broker
        from semanticnn.edge.mqtt import check_device

        parse_broker(publish)
        check_device(device)
    try:
        ser = serial.Serial(port, baud, timeout=0.5)
    except serial.SerialException as e:
        raise click.ClickException(f"port {port}: {e}") from None
    with ser:
        frames = read_frames(ser, count=count, timeout=timeout)
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
