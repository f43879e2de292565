"""The gateway: a board's UART frames into the broker (`receive --publish`), so that a
real NUCLEO feeds `semanticnn serve` like a simulated device."""

from __future__ import annotations

import time
from collections.abc import Iterable

from semanticnn.edge.mqtt import UP, connect


def forward(frames: Iterable[bytes], broker: str, device: str) -> int:
    """Publish each frame (QoS 1) on `snn/<device>/up`; returns how many, once the
    broker has confirmed them all."""
    session = connect(broker, f"snn-gateway-{device}-{time.monotonic_ns()}")
    mids = []
    try:
        for wire in frames:
            mids.append(session.publish(UP.format(device=device), wire))
        if not all(session.wait_acked(mids, timeout=30)):
            raise OSError(f"the broker at {broker} did not confirm every frame in 30 s")
    finally:
        session.close()
    return len(mids)
