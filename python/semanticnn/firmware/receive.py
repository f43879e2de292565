"""`semanticnn receive`: frames from a real board over its serial port
(pyserial) or its debug probe (RTT, through probe-rs), decoded on the edge
with a trained run's BER-aware decoder.

The board prints one record per line (`firmware-rs/src/log.rs`); each
`FRAME ... hex=` line carries one wire frame (`semanticnn.frame`). Boards
with RTT send the same lines on up channel 1, "frames" (`firmware-rs/src/rtt.rs`).
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .. import frame
from ..ber_estimate import LinkEstimate, frame_evidence
from .build import FirmwareError
from .emulate import parse_records

RTT_CHANNEL = "frames"
POLL_S = 0.02

if TYPE_CHECKING:
    from ..models import SemanticNN


class LineSource(Protocol):
    def readline(self) -> bytes: ...


class RttLines:
    """The lines of the board's RTT "frames" channel, as a serial port would
    give them (`readline`, empty after `timeout` s without a whole line).

    probe-rs attaches to the running firmware (`attach`, from
    `flash.attach_command`) and appends the channel's bytes to a file in a
    temporary folder, which is followed here (`rtt_command`). Attaching
    switches the channel to blocking, so nothing is lost from then on; the
    records written before it wait in the board's buffer.
    """

    def __init__(self, attach: list[str], timeout: float = 0.5) -> None:
        self._timeout = timeout
        self._partial = b""
        self._dir = tempfile.TemporaryDirectory(prefix="semanticnn-rtt-")
        out = Path(self._dir.name) / f"{RTT_CHANNEL}.txt"
        out.touch()
        self._file = out.open("rb")
        self._stderr = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                rtt_command(attach, out),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )
        except OSError as e:
            self._close_files()
            raise FirmwareError(f"cannot run {attach[0]}: {e}") from None

    def readline(self) -> bytes:
        deadline = time.monotonic() + self._timeout
        while True:
            end = self._partial.find(b"\n") + 1
            if end:
                line, self._partial = self._partial[:end], self._partial[end:]
                return line
            # Whether probe-rs has exited is asked before reading, so that all
            # it wrote before it exited has been read when it is reported.
            exited = self._proc.poll() is not None
            chunk = self._file.read()
            if chunk:
                self._partial += chunk
                continue
            if exited:
                self._stderr.seek(0)
                said = self._stderr.read().decode(errors="replace").strip().splitlines()
                raise FirmwareError(
                    f"probe-rs stopped reading RTT (exit status {self._proc.returncode}): "
                    + (said[-1] if said else "no message")
                )
            if time.monotonic() > deadline:
                return b""
            time.sleep(POLL_S)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._close_files()

    def _close_files(self) -> None:
        self._file.close()
        self._stderr.close()
        self._dir.cleanup()

    def __enter__(self) -> RttLines:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def rtt_command(attach: list[str], out: Path) -> list[str]:
    """`attach` (`probe-rs attach ... ELF`) also writing the frames channel to
    `out`, as plain text: no timestamps, no channel prefixes."""
    *head, elf = attach
    return [
        *head, "--no-timestamps", "--target-output-file", f"rtt:{RTT_CHANNEL}={out}", elf,
    ]  # fmt: skip


def read_frames(
    port: LineSource, *, count: int | None = None, timeout: float = 30.0
) -> Iterator[bytes]:
    """Yield the frames the board prints, until `DONE`, `count` frames, or
    `timeout` seconds without a frame (FirmwareError); a `PANIC` or `ERROR`
    line from the board is a FirmwareError carrying its message."""
    got, last = 0, time.monotonic()
    while count is None or got < count:
        line = port.readline().decode("ascii", errors="replace")
        if not line:
            if time.monotonic() - last > timeout:
                raise FirmwareError(f"no frame from the board for {timeout:.0f} s")
            continue
        for rec in parse_records(line):
            if rec.tag in ("PANIC", "ERROR"):
                raise FirmwareError(f"the board reported {rec.tag}: {line.strip()}")
            if rec.tag == "DONE":
                return
            if rec.tag == "FRAME":
                try:
                    frame = bytes.fromhex(rec.fields.get("hex", ""))
                except ValueError:
                    raise FirmwareError(f"malformed FRAME line: {line.strip()[:80]}") from None
                got, last = got + 1, time.monotonic()
                yield frame


def predict(
    model: SemanticNN,
    frames: list[bytes],
    ber: float | None = None,
    link: LinkEstimate | None = None,
) -> list[int]:
    """Class predictions for wire frames of `model`'s encoder: parse each frame,
    dequantize its symbols (NHWC, as the device sends them), run the BER-aware
    decoder told `ber` and the tail. Without `ber`: the running estimate of `link`
    (the link's frames so far, `semanticnn.ber_estimate`), updated by each frame, or
    without `link` each frame's own estimate (the bits its header's Golay code
    corrected and its pilot, `Frame.ber_estimate`)."""
    c, h, w = model.latent_shape()
    nbits = model.encoder.quantizer.bits
    if not frames:
        return []
    symbols, bers = [], []
    for i, f in enumerate(frames):
        try:
            parsed = frame.decode(f)
        except frame.FrameError as e:
            raise ValueError(f"frames[{i}]: {e}") from None
        if parsed.symbols.size != c * h * w or parsed.nbits != nbits:
            raise ValueError(
                f"frames[{i}]: {parsed.symbols.size} symbols of {parsed.nbits} bits, the model "
                f"sends {c * h * w} of {nbits}; was the board built with this run's model?"
            )
        symbols.append(parsed.symbols)
        if ber is not None:
            bers.append(ber)
        elif link is not None:
            bers.append(link.update(*frame_evidence(parsed)))
        else:
            bers.append(parsed.ber_estimate)
    from ..edge.service import classify

    labels, _ = classify(model, np.stack(symbols), np.array(bers))
    return [int(k) for k in labels]
