"""MQTT 5 clients of the edge (paho-mqtt): persistent sessions, QoS 1, reconnection.

Topics (docs/edge.md): a device publishes each wire frame, raw bytes, on
`snn/<device>/up`; the service answers on `snn/<device>/result` with JSON. Services
subscribe through the shared subscription `$share/<group>/snn/+/up`, so that K of them
split the uplinks, each frame going to one.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from semanticnn.edge.broker import parse_broker
from semanticnn.errors import one_line

UP = "snn/{device}/up"
RESULT = "snn/{device}/result"
UP_FILTER = "snn/+/up"
RESULT_FILTER = "snn/+/result"
# A device name: one topic level, no wildcards.
DEVICE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# How long the broker keeps a disconnected client's session and QoS 1 queue.
SESSION_EXPIRY_S = 3600
# QoS 1 messages in flight per client: a large window, or throughput is one round trip
# per 20 messages (paho's default).
INFLIGHT = 1000


def device_of(topic: str) -> str | None:
    """The device of `snn/<device>/up` or `.../result`; None for another topic."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == "snn" and DEVICE.match(parts[1]):
        return parts[1]
    return None


def check_device(name: str) -> str:
    if not DEVICE.match(name):
        raise ValueError(f"device name {name!r}: 1 to 64 of A-Z a-z 0-9 _ . -")
    return name


class Session:
    """A paho client on a persistent session (its network thread running), and the
    broker's acknowledgements of what it published with QoS 1: those published while
    the broker is away are sent, and acknowledged, when it is back."""

    def __init__(self, client: Any) -> None:
        self.client = client
        # Per message id (paho reuses them): publishes made and acknowledgements
        # received. A publish is acknowledged once its id's counts are equal, however
        # the acknowledgement and the count of the publish interleave.
        self._published: Counter[int] = Counter()
        self._acked: Counter[int] = Counter()
        self._changed = threading.Condition()
        client.on_publish = self._on_publish

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self._changed:
            self._acked[mid] += 1
            self._changed.notify_all()

    def publish(self, topic: str, payload: bytes) -> int:
        """Publish with QoS 1 (queued while the broker is away); returns the message id."""
        mid = int(self.client.publish(topic, payload, qos=1).mid)
        with self._changed:
            self._published[mid] += 1
        return mid

    def wait_acked(self, mids: list[int], timeout: float) -> list[bool]:
        """Whether the broker acknowledged each of `mids` (as last published) within
        `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not all(self._acked[m] >= self._published[m] for m in mids):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return [self._acked[m] >= self._published[m] for m in mids]

    def ack(self, mid: int) -> None:
        """Acknowledge a message received with manual acknowledgement."""
        self.client.ack(mid, 1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def connect(
    url: str,
    client_id: str,
    *,
    subscribe: tuple[str, ...] = (),
    on_message: Callable[[Any], None] | None = None,
    manual_ack: bool = False,
) -> Session:
    """A connected `Session`: QoS 1 messages published while the broker is away are
    sent when it is back, and those for this client are queued by the broker
    meanwhile (the session outlives a disconnection). `subscribe` is renewed
    on every (re)connection; `on_message` gets paho's message (`topic`, `payload`,
    `mid`), which with `manual_ack` the caller acknowledges (`Session.ack`).
    An unreachable broker is a one-line OSError."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    address = parse_broker(url)
    client = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    client.max_inflight_messages_set(INFLIGHT)
    client.max_queued_messages_set(0)  # unbounded: nothing published is dropped
    client.reconnect_delay_set(min_delay=1, max_delay=2)

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        for f in subscribe:
            c.subscribe(f, qos=1)

    client.on_connect = on_connect
    if on_message is not None:
        client.on_message = lambda c, u, msg: on_message(msg)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    try:
        client.connect(
            address.host, address.port, keepalive=30, clean_start=False, properties=props
        )
    except OSError as e:
        raise OSError(f"cannot reach the broker at {address.url}: {one_line(e)}") from None
    session = Session(client)
    client.loop_start()
    return session
