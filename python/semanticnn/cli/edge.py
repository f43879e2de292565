"""The edge as a service: `serve`, `devices simulate`, `broker` (docs/edge.md)."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
from pathlib import Path

import click

from semanticnn.edge.broker import DEFAULT_BROKER

from . import options

broker_option = click.option(
    "--broker",
    default=DEFAULT_BROKER,
    show_default=True,
    help="MQTT 5 broker, mqtt://HOST:PORT.",
)


def parse_runs(specs: tuple[str, ...]) -> dict[int, Path]:
    """`RUN` or `ID=RUN` (ID: the model id its frames carry, default the device's 0)."""
    from semanticnn import frame

    runs: dict[int, Path] = {}
    for spec in specs:
        head, sep, tail = spec.partition("=")
        if sep and head.isdigit():
            model_id, path = int(head), Path(tail)
        else:
            model_id, path = frame.DEVICE_MODEL_ID, Path(spec)
        if not 0 <= model_id <= frame.MAX_MODEL_ID:
            raise click.BadParameter(f"{spec}: model id must be in 0..{frame.MAX_MODEL_ID}")
        if model_id in runs:
            raise click.BadParameter(
                f"two runs with model id {model_id} ({runs[model_id]} and {path}); "
                "give each its own as ID=RUN"
            )
        runs[model_id] = path
    return runs


@click.command()
@click.argument("runs", nargs=-1, required=True)
@broker_option
@click.option("--group", default="snn-edge", show_default=True,
              help="Shared-subscription group: its services split the frames.")  # fmt: skip
@click.option("--client-id", default=None,
              help="MQTT client id; keep it across restarts to keep the session's queue "
              "[snn-serve-HOST-PID].")  # fmt: skip
@click.option("--max-batch", type=click.IntRange(1), default=64, show_default=True,
              help="Most frames decoded in one batch.")  # fmt: skip
@click.option("--max-wait-ms", type=click.FloatRange(0), default=5.0, show_default=True,
              help="Longest a frame waits for its batch to fill.")  # fmt: skip
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.")  # fmt: skip
@options.threads
def serve(
    runs: tuple[str, ...],
    broker: str,
    group: str,
    client_id: str | None,
    max_batch: int,
    max_wait_ms: float,
    metrics_port: int | None,
    threads: int,
) -> None:
    """Decode frames from many devices over MQTT: uplinks on snn/<device>/up, results
    on snn/<device>/result. RUNS are trained run folders, each `RUN` or `ID=RUN` (the
    model id its devices' frames carry). SIGTERM finishes the batch in hand and exits.

    \b
    Example:
      semanticnn serve runs/mnist5k --broker mqtt://127.0.0.1:1883 --metrics-port 9108
    """
    from semanticnn.edge.broker import parse_broker
    from semanticnn.edge.service import EdgeService, Metrics, run_service
    from semanticnn.train import load_run

    parse_broker(broker)
    paths = parse_runs(runs)
    options.set_threads(threads)
    models = {mid: load_run(path).aware for mid, path in paths.items()}
    metrics = Metrics()
    if metrics_port:
        metrics.serve_http(metrics_port)
    service = EdgeService(models, metrics)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ids = ", ".join(f"{mid}={path}" for mid, path in paths.items())
    run_service(
        service,
        broker,
        group=group,
        client_id=client_id or f"snn-serve-{socket.gethostname()}-{os.getpid()}",
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        stop=stop,
        on_ready=lambda: click.echo(f"serving {ids} on {broker} (group {group})", err=True),
    )
    c = service.counts
    click.echo(
        f"stopped: {sum(c.decoded.values())} frames answered, {c.lost_total()} not "
        f"({', '.join(f'{r} {c.lost_total(r)}' for r in sorted({r for _, r in c.lost}))})",
        err=True,
    )


@click.group()
def devices() -> None:
    """Simulated devices (a load generator for `semanticnn serve`).

    \b
    Example:
      semanticnn devices simulate runs/mnist5k --devices 100 --rate 500
    """


@devices.command("simulate")
@options.run_dir_argument
@broker_option
@click.option("--devices", "count", type=click.IntRange(1), default=100, show_default=True,
              help="Simulated devices.")  # fmt: skip
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=200.0,
              show_default=True, help="Frames per second, all devices together.")  # fmt: skip
@click.option("--frames", type=click.IntRange(1), default=2000, show_default=True,
              help="Frames to send in all.")  # fmt: skip
@click.option("--model-id", type=click.IntRange(0, 255), default=0, show_default=True,
              help="Model id the frames carry (as served: ID=RUN).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the channels.")
@options.as_json
def simulate_cmd(
    run_dir: Path,
    broker: str,
    count: int,
    rate: float,
    frames: int,
    model_id: int,
    seed: int,
    as_json: bool,
) -> None:
    """N devices encode RUN_DIR's test images with the Rust int8 encoder, frame them,
    pass them through their own channels (clean, BSC 1e-3 and 1e-2, Gilbert-Elliott,
    in turn) and publish them at RATE; the service's results are matched and reported.

    \b
    Example:
      semanticnn devices simulate runs/mnist5k --devices 100 --rate 500 --frames 5000
    """
    from semanticnn.edge.broker import parse_broker
    from semanticnn.edge.simulate import Fleet, simulate

    parse_broker(broker)
    fleet = Fleet.from_run(run_dir)
    report = simulate(
        fleet, broker, devices=count, rate=rate, frames=frames, model_id=model_id, seed=seed
    )
    r = report.to_dict()
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    click.echo(
        f"{r['sent']} frames from {count} devices at {rate:g}/s: {r['answered']} answered "
        f"({100 * r['delivery']:.2f}%), {r['duplicates']} answered twice, {r['redelivered']} "
        f"redelivered, delivered accuracy "
        f"{100 * r['accuracy']:.2f}%, latency p50 {r['latency_ms_p50']:.1f} ms, "
        f"p99 {r['latency_ms_p99']:.1f} ms"
    )


@click.command("broker")
@click.option("--port", type=click.IntRange(1, 65535), default=1883, show_default=True,
              help="Port on 127.0.0.1.")  # fmt: skip
def broker_cmd(port: int) -> None:
    """Run a Mosquitto broker on 127.0.0.1 for the service and the devices (MQTT 5,
    persistent queues) until Ctrl-C.

    \b
    Example:
      semanticnn broker --port 1883
    """
    from semanticnn.edge.broker import Mosquitto

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with Mosquitto(port) as broker:
        click.echo(f"broker on {broker.url} (Ctrl-C stops it)", err=True)
        stop.wait()
