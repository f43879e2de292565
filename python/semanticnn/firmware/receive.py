"""`semanticnn receive`: frames from a real board over its serial port
(pyserial), decoded on the edge with a trained run's BER-aware decoder.

The board prints one record per line (`firmware-rs/src/log.rs`); each
`FRAME ... hex=` line carries one wire frame (`semanticnn.frame`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .. import frame
from ..ber_estimate import LinkEstimate, frame_evidence
from .build import FirmwareError
from .emulate import parse_records

if TYPE_CHECKING:
    from ..models import SemanticNN


class LineSource(Protocol):
    def readline(self) -> bytes: ...


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
