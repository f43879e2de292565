"""`semanticnn devices simulate`: N devices that encode test images with the Rust int8
encoder, frame them, pass them through their own channels and publish them over MQTT
at a total rate; the results the service sends back are matched by (device, seq) and
reported: delivered accuracy (a frame without a result is wrong), delivery and latency."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from semanticnn import frame, int8
from semanticnn.link import BSC, Channel, GilbertElliott
from semanticnn.paths import ENCODER_FILE
from semanticnn.seeds import derive_seed

# The devices' links, in turn: clean, noisy and bursty (device k gets LINKS[k % 4]).
LINKS: tuple[Channel, ...] = (BSC(0.0), BSC(1e-3), BSC(1e-2), GilbertElliott())


@dataclass(frozen=True)
class Fleet:
    """What the simulated devices send: every test image's symbols and its label."""

    symbols: np.ndarray  # (N, S) as the encoder's head emits them
    labels: np.ndarray
    nbits: int
    gray: bool

    @classmethod
    def from_run(cls, run_dir: Path) -> Fleet:
        """The run's exported encoder over its dataset's test images."""
        import json

        from semanticnn.data import load_dataset

        model = run_dir / ENCODER_FILE
        if not model.is_file():
            raise FileNotFoundError(f"{model}: export the run first (semanticnn export {run_dir})")
        config = json.loads((run_dir / "config.json").read_text())
        test = load_dataset(config["dataset"]).test
        images = np.round(test.x * 255).clip(0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
        encoder = int8.Encoder.load(model)
        return cls(encoder.encode(np.ascontiguousarray(images)), test.y, encoder.bits, encoder.gray)


@dataclass(frozen=True)
class Report:
    devices: int
    rate: float  # frames/s asked for
    sent: int
    answered: int
    duplicates: int  # a second, different answer to one (device, seq): never expected
    redelivered: int  # the same result message again (QoS 1 is at least once)
    resent: int  # frames sent again for want of a result
    correct: int
    seconds: float  # first publish to last result
    latencies_ms: np.ndarray  # publish -> result, per answered frame

    @property
    def delivery(self) -> float:
        return self.answered / self.sent if self.sent else 0.0

    @property
    def accuracy(self) -> float:
        """Delivered accuracy: a frame without a result counts as wrong."""
        return self.correct / self.sent if self.sent else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms.size else np.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "rate": self.rate,
            "sent": self.sent,
            "answered": self.answered,
            "duplicates": self.duplicates,
            "redelivered": self.redelivered,
            "resent": self.resent,
            "delivery": self.delivery,
            "accuracy": self.accuracy,
            "seconds": self.seconds,
            "latency_ms_p50": self.percentile_ms(50),
            "latency_ms_p99": self.percentile_ms(99),
        }


def device_name(k: int, fleet: str = "dev") -> str:
    return f"{fleet}{k:05d}"


def simulate(
    fleet: Fleet,
    broker: str,
    *,
    devices: int,
    rate: float,
    frames: int,
    model_id: int = frame.DEVICE_MODEL_ID,
    links: tuple[Channel, ...] = LINKS,
    seed: int = 0,
    name: str = "dev",
    settle_s: float = 10.0,
    retry_s: float = 2.0,
    retries: int = 3,
    during: Any = None,
) -> Report:
    """Publish `frames` frames from `devices` devices at `rate` frames/s in total and
    wait (up to `settle_s` after the last) for their results. A frame without a result
    `retry_s` after the last is sent again, up to `retries` times (the service answers
    each (device, seq) once): Mosquitto 2.0 does not keep shared subscriptions across
    its restart, so frames published before the services subscribe again are dropped
    (docs/edge.md). Devices are called `name` and a number; their sequence numbers
    start at 0, so a service that already answered devices of this name must be given
    another. `during(i)`, if given, is called before publishing frame `i`."""
    from semanticnn.edge.mqtt import RESULT_FILTER, UP, connect, device_of

    if frames > devices * (frame.MAX_SEQ + 1):
        raise ValueError(
            f"{frames} frames from {devices} devices wrap their 10-bit sequence numbers; "
            "add devices or send fewer frames"
        )
    tag = f"{seed}-{time.monotonic_ns()}"
    sent_at: dict[tuple[str, int], float] = {}
    label_of: dict[tuple[str, int], int] = {}
    got: dict[tuple[str, int], float] = {}
    first: dict[tuple[str, int], bytes] = {}
    wires: dict[tuple[str, int], bytes] = {}
    extra = redelivered = correct = resent = 0
    lock = threading.Lock()
    done = threading.Event()

    def on_result(msg: Any) -> None:
        nonlocal extra, redelivered, correct
        now = time.monotonic()
        device = device_of(msg.topic)
        try:
            body = json.loads(msg.payload)
            key = (device or "?", int(body["seq"]))
        except (ValueError, KeyError, TypeError):
            return
        with lock:
            if key in got:
                if first[key] == msg.payload:
                    redelivered += 1
                else:
                    extra += 1
                return
            if key not in label_of:
                return
            got[key] = now
            first[key] = bytes(msg.payload)
            correct += int(body["class"]) == label_of[key]
            if len(got) == frames:
                done.set()

    results = connect(
        broker, f"snn-sim-results-{tag}", subscribe=(RESULT_FILTER,), on_message=on_result
    )
    sender = connect(broker, f"snn-sim-devices-{tag}")
    try:
        time.sleep(0.2)  # the result subscription is in place
        start = time.monotonic()
        rows = np.arange(frames) % len(fleet.symbols)
        for i in range(frames):
            k, seq = i % devices, i // devices
            device = device_name(k, name)
            wire = frame.encode(
                fleet.symbols[rows[i]],
                fleet.nbits,
                model_id=model_id,
                seq=seq,
                gray=fleet.gray,
                mapped=True,
            )
            link = links[k % len(links)]
            received = np.frombuffer(wire, np.uint8).copy()
            link.corrupt(received, derive_seed(seed, k, seq))  # flips only: MQTT is reliable
            wait = start + i / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if during is not None:
                during(i)
            with lock:
                sent_at[(device, seq)] = time.monotonic()
                label_of[(device, seq)] = int(fleet.labels[rows[i]])
            wires[(device, seq)] = received.tobytes()
            sender.publish(UP.format(device=device), wires[(device, seq)])
        deadline = time.monotonic() + settle_s
        for _ in range(retries):
            if done.wait(timeout=min(retry_s, max(deadline - time.monotonic(), 0))):
                break
            with lock:
                missing = [key for key in wires if key not in got]
            for device, seq in missing:
                sender.publish(UP.format(device=device), wires[(device, seq)])
            resent += len(missing)
        done.wait(timeout=max(deadline - time.monotonic(), 0))
        time.sleep(0.2)  # a late duplicate would land now
    finally:
        sender.close()
        results.close()
    with lock:
        latencies = np.array([1e3 * (t - sent_at[k]) for k, t in got.items()])
        last = max(got.values(), default=start)
        return Report(
            devices, rate, frames, len(got), extra, redelivered, resent, correct, last - start,
            latencies,
        )  # fmt: skip
