"""The MQTT broker: where it is (`mqtt://HOST:PORT`), and a Mosquitto of our own for
tests, benchmarks and `semanticnn broker` (loopback only, persistent, MQTT 5)."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def parse_broker(url: str) -> BrokerAddress:
    """`mqtt://HOST[:PORT]` (port 1883 by default); a ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"broker {url!r}: expected mqtt://HOST[:PORT]")
    try:
        port = parts.port or 1883
    except ValueError:
        raise ValueError(f"broker {url!r}: the port must be a number in 1..65535") from None
    return BrokerAddress(parts.hostname, port)


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_binary() -> str:
    """The mosquitto executable (Debian installs it in /usr/sbin)."""
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise FileNotFoundError("mosquitto is not installed (scripts/setup.sh installs it)")
    return found


def wait_for_port(address: BrokerAddress, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address.host, address.port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise OSError(f"no broker at {address.url} after {timeout:.0f} s") from None
            time.sleep(0.02)


class Mosquitto:
    """A Mosquitto broker on 127.0.0.1 (a free port unless given), with persistence
    in a folder of its own, so that queued QoS 1 messages survive `restart()`."""

    def __init__(self, port: int | None = None) -> None:
        self.address = BrokerAddress("127.0.0.1", port or free_port())
        self._dir = Path(tempfile.mkdtemp(prefix="snn-broker-"))
        self._proc: subprocess.Popen[bytes] | None = None
        (self._dir / "mosquitto.conf").write_text(
            # Run as whoever starts it: as root, Mosquitto would switch to the user
            # "mosquitto", who cannot write its queues into this folder.
            f"user {pwd.getpwuid(os.getuid()).pw_name}\n"
            f"listener {self.address.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self._dir}/\n"
            "max_queued_messages 1000000\n"
            "max_inflight_messages 0\n"
            "log_dest none\n"
        )

    @property
    def url(self) -> str:
        return self.address.url

    def start(self) -> Mosquitto:
        try:  # something else listening there would pass for the broker
            socket.create_connection((self.address.host, self.address.port), timeout=0.2).close()
        except OSError:
            pass
        else:
            raise OSError(f"{self.url} is taken by another program")
        self._proc = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self._dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(self.address, 10)
        except OSError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop gracefully (Mosquitto saves its queues to disk on SIGTERM)."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def restart(self, down_seconds: float = 0.5) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)
