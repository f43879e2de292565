"""`semanticnn serve`: the edge as a service. Frames from many devices arrive over
MQTT; the service decodes them in micro-batches with each model's BER-aware decoder and
tail, tells the decoder each device's running BER estimate (from the frames' own
evidence: header Golay corrections and pilots), and answers each frame once.

Delivery: uplinks are subscribed with QoS 1 and acknowledged only once their result is
published (or once they are known bad), so a frame the service had not finished when it
stopped is sent again by the broker; a frame seen twice (a redelivery) is answered once:
each device's recent sequence numbers are remembered. Frames that fail (not a frame, an
unknown model id, the wrong symbol count) are counted per device and get no reply.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from semanticnn import frame
from semanticnn.ber_estimate import LinkEstimate, frame_evidence
from semanticnn.errors import one_line

if TYPE_CHECKING:
    from semanticnn.edge.mqtt import Session
    from semanticnn.models import SemanticNN

log = logging.getLogger("semanticnn.serve")

# Sequence numbers remembered per device to answer a redelivered frame once: half the
# 1,024 a frame's 10-bit field takes, so a wrapped-around number is new again.
DEDUPE_WINDOW = (frame.MAX_SEQ + 1) // 2
REASONS = ("malformed", "unknown_model", "wrong_shape", "duplicate", "bad_topic")


def classify(
    model: SemanticNN, symbols: np.ndarray, bers: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(class, confidence) of each row of (N, S) symbols as the device sends them,
    decoded by `model`'s BER-aware decoder told `bers[i]` for row `i`, and its tail."""
    import torch

    with torch.no_grad():
        values = model.encoder.quantizer.dequantize(model.symbols_nchw(symbols))
        feats = model.decode(values, torch.as_tensor(bers, dtype=torch.float32))
        probs = torch.softmax(model.tail(feats), dim=1)
        confidence, label = probs.max(dim=1)
    return label.numpy(), confidence.numpy()


@dataclass(frozen=True)
class Uplink:
    """One message on `snn/<device>/up`: `device` None when the topic is not one."""

    device: str | None
    payload: bytes
    arrived: float  # time.monotonic()
    mid: int = 0  # the MQTT message id to acknowledge


@dataclass(frozen=True)
class Result:
    device: str
    seq: int
    model_id: int
    label: int
    confidence: float
    ber: float
    latency_s: float  # arrival at the service -> result ready

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "seq": self.seq,
                "model_id": self.model_id,
                "class": self.label,
                "confidence": round(self.confidence, 6),
                "ber": self.ber,
                "latency_ms": round(1e3 * self.latency_s, 3),
            }
        ).encode()


@dataclass
class Counts:
    """What the service did with each device's frames."""

    decoded: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lost: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def lost_total(self, reason: str | None = None) -> int:
        return sum(n for (_, r), n in self.lost.items() if reason in (None, r))


class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.frames_in = Counter(
            "snn_frames_in", "Uplink messages received.", registry=self.registry
        )
        self.frames_decoded = Counter(
            "snn_frames_decoded", "Frames decoded and answered.", ["device"], registry=self.registry
        )
        self.frames_lost = Counter(
            "snn_frames_lost",
            "Frames not answered, by device and reason (" + ", ".join(REASONS) + ").",
            ["device", "reason"],
            registry=self.registry,
        )
        self.ber = Gauge(
            "snn_device_ber_estimate",
            "Each device's running BER estimate.",
            ["device"],
            registry=self.registry,
        )
        self.batch = Histogram(
            "snn_batch_size",
            "Frames per decoded micro-batch.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
            registry=self.registry,
        )
        self.latency = Histogram(
            "snn_latency_seconds",
            "Arrival at the service to result published.",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=self.registry,
        )

    def serve_http(self, port: int) -> None:
        """Expose the metrics on 127.0.0.1:`port`/metrics."""
        from prometheus_client import start_http_server

        start_http_server(port, addr="127.0.0.1", registry=self.registry)


class EdgeService:
    """Decodes batches of uplinks for the models it serves (by the frames' model id)."""

    def __init__(self, models: Mapping[int, SemanticNN], metrics: Metrics | None = None) -> None:
        self.models = dict(models)
        self.metrics = metrics
        self.counts = Counts()
        self.links: dict[str, LinkEstimate] = defaultdict(LinkEstimate)
        # The sequence numbers answered (or being answered) per device; the confirming
        # thread forgets those whose result the broker did not take.
        self._recent: dict[str, OrderedDict[int, None]] = defaultdict(OrderedDict)
        self._recent_lock = threading.Lock()
        self._shapes = {
            mid: (int(np.prod(m.latent_shape())), m.encoder.quantizer.bits)
            for mid, m in self.models.items()
        }

    def _lost(self, device: str, reason: str) -> None:
        self.counts.lost[(device, reason)] += 1
        if self.metrics:
            self.metrics.frames_lost.labels(device, reason).inc()

    def _first_time(self, device: str, seq: int) -> bool:
        """Whether `device`'s frame `seq` is new; it is remembered from now on."""
        with self._recent_lock:
            recent = self._recent[device]
            if seq in recent:
                return False
            recent[seq] = None
            if len(recent) > DEDUPE_WINDOW:
                recent.popitem(last=False)
            return True

    def forget(self, device: str, seq: int) -> None:
        """Its result was not confirmed: answer `device`'s frame `seq` when it comes again."""
        with self._recent_lock:
            self._recent[device].pop(seq, None)

    def decode(self, uplinks: list[Uplink]) -> list[Result | None]:
        """The result of each uplink of a batch (None for a bad one, which is counted)."""
        rows: dict[int, list[tuple[int, Uplink, frame.Frame, float]]] = defaultdict(list)
        for i, up in enumerate(uplinks):
            if self.metrics:
                self.metrics.frames_in.inc()
            if up.device is None:
                self._lost("?", "bad_topic")
                continue
            try:
                parsed = frame.decode(up.payload)
            except ValueError as e:
                self._lost(up.device, "malformed")
                log.info("%s: not a frame (%s)", up.device, one_line(e))
                continue
            shape = self._shapes.get(parsed.model_id)
            if shape is None:
                self._lost(up.device, "unknown_model")
                log.info("%s: unknown model id %d", up.device, parsed.model_id)
                continue
            if (parsed.symbols.size, parsed.nbits) != shape:
                self._lost(up.device, "wrong_shape")
                continue
            if not self._first_time(up.device, parsed.seq):
                self._lost(up.device, "duplicate")  # a redelivery: answered already
                continue
            ber = self.links[up.device].update(*frame_evidence(parsed))
            if self.metrics:
                self.metrics.ber.labels(up.device).set(ber)
            rows[parsed.model_id].append((i, up, parsed, ber))
        results: list[Result | None] = [None] * len(uplinks)
        for model_id, group in rows.items():
            symbols = np.stack([p.symbols for _, _, p, _ in group])
            bers = np.array([b for _, _, _, b in group])
            labels, confidence = classify(self.models[model_id], symbols, bers)
            done = time.monotonic()
            for (i, up, parsed, ber), k, c in zip(group, labels, confidence, strict=True):
                device = up.device or "?"
                latency = done - up.arrived
                results[i] = Result(device, parsed.seq, model_id, int(k), float(c), ber, latency)
        return results


def next_batch(source: queue.Queue[Uplink], max_batch: int, max_wait_s: float) -> list[Uplink]:
    """Up to `max_batch` uplinks: waits for the first (up to 0.1 s), then for more until
    `max_wait_s` after it arrived."""
    try:
        batch = [source.get(timeout=0.1)]
    except queue.Empty:
        return []
    deadline = time.monotonic() + max_wait_s
    while len(batch) < max_batch:
        left = deadline - time.monotonic()
        try:
            batch.append(source.get(timeout=left) if left > 0 else source.get_nowait())
        except queue.Empty:
            break
    return batch


def run_service(
    service: EdgeService,
    broker: str,
    *,
    group: str,
    client_id: str,
    max_batch: int,
    max_wait_ms: float,
    stop: threading.Event,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve until `stop` is set; then finish the batch in hand, acknowledge what was
    answered, and disconnect (what was not taken stays queued at the broker).

    Decoding and confirming overlap: the decoding loop publishes a batch's results and
    goes on with the next batch while a second thread waits for the broker to confirm
    them and then acknowledges the batch's uplinks."""
    from semanticnn.edge.mqtt import UP_FILTER, connect, device_of

    inbox: queue.Queue[Uplink] = queue.Queue()
    accepting = threading.Event()
    accepting.set()

    def on_message(msg: Any) -> None:
        if accepting.is_set():
            inbox.put(Uplink(device_of(msg.topic), bytes(msg.payload), time.monotonic(), msg.mid))

    session = connect(
        broker,
        client_id,
        subscribe=(f"$share/{group}/{UP_FILTER}",),
        on_message=on_message,
        manual_ack=True,
    )
    sent: queue.Queue[Published | None] = queue.Queue()
    confirmer = threading.Thread(target=confirm, args=(service, session, sent), daemon=True)
    confirmer.start()
    if on_ready:
        on_ready()
    try:
        while not stop.is_set():
            batch = next_batch(inbox, max_batch, max_wait_ms / 1e3)
            if batch:
                sent.put(publish(service, session, batch))
        accepting.clear()  # what arrives now is not acknowledged: the broker keeps it
    finally:
        sent.put(None)
        confirmer.join()
        session.close()


@dataclass(frozen=True)
class Published:
    """A decoded batch whose results are on their way to the broker."""

    batch: list[Uplink]
    results: list[tuple[Uplink, Result, int]]  # (uplink, its result, the result's mid)


def publish(service: EdgeService, session: Session, batch: list[Uplink]) -> Published:
    """Decode `batch` and publish its results (QoS 1)."""
    from semanticnn.edge.mqtt import RESULT

    out = []
    for up, r in zip(batch, service.decode(batch), strict=True):
        if r is not None:
            out.append((up, r, session.publish(RESULT.format(device=r.device), r.to_json())))
    return Published(batch, out)


def confirm(service: EdgeService, session: Session, sent: queue.Queue[Published | None]) -> None:
    """For each published batch (until None): wait for the broker to confirm its results,
    then acknowledge its uplinks. An uplink whose result is not confirmed in 30 s is not
    acknowledged, so the broker sends it again, and is forgotten, so it is answered then."""
    m = service.metrics
    while (done := sent.get()) is not None:
        confirmed = session.wait_acked([mid for _, _, mid in done.results], 30)
        unconfirmed = set()
        for (up, r, _), ok in zip(done.results, confirmed, strict=True):
            if not ok:
                unconfirmed.add(up.mid)
                service.forget(r.device, r.seq)
                continue
            service.counts.decoded[r.device] += 1
            if m:
                m.frames_decoded.labels(r.device).inc()
                m.latency.observe(r.latency_s)
        for up in done.batch:
            if up.mid not in unconfirmed:  # bad frames are done with too
                session.ack(up.mid)
        if m:
            m.batch.observe(len(done.batch))
        if unconfirmed:
            log.warning("%d results not confirmed by the broker in 30 s", len(unconfirmed))
