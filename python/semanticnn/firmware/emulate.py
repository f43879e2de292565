"""Running a firmware image in qemu-system-arm and reading what it printed.

The firmware writes one record per line, `TAG key=value ...` (see
`firmware-rs/src/log.rs`): `CALIB` (the counter's ticks for a loop of known
instruction count), `MODEL`, `FRAME`, `READY` (the UART listens), `STACK`
(peak stack bytes), `DONE`, `ERROR` (bad input, reported) and `PANIC` on a panic.
"""

from __future__ import annotations

import os
import selectors
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _core
from .boards import Board
from .build import FirmwareError

EMULATE_TIMEOUT_S = 120.0
STREAM_MAGIC: bytes = _core.STREAM_MAGIC


@dataclass(frozen=True)
class Record:
    tag: str
    fields: dict[str, str]

    def int(self, key: str) -> int:
        try:
            return int(self.fields[key])
        except (KeyError, ValueError):
            raise FirmwareError(f"firmware record {self.tag}: bad or missing {key!r}") from None


def parse_records(text: str) -> list[Record]:
    """`TAG k=v k=v` lines; lines that do not start with an upper-case tag are
    ignored. A `PANIC` or `ERROR` line keeps its message whole under `message`."""
    records = []
    for line in text.splitlines():
        tag, _, rest = line.strip().partition(" ")
        if not tag.isupper():
            continue
        if tag in ("PANIC", "ERROR"):
            records.append(Record(tag, {"message": rest}))
            continue
        fields = dict(kv.partition("=")[::2] for kv in rest.split())
        records.append(Record(tag, fields))
    return records


@dataclass
class Emulation:
    """What one firmware run printed."""

    records: list[Record]
    ticks_per_instruction: float | None = None  # from CALIB; None on hardware
    stdout: str = field(default="", repr=False)

    def of(self, tag: str) -> list[Record]:
        return [r for r in self.records if r.tag == tag]

    def instructions(self, ticks: int) -> float:
        """A counter difference in instructions (QEMU -icount shift=0)."""
        if self.ticks_per_instruction is None:
            raise FirmwareError("firmware printed no CALIB record")
        return ticks / self.ticks_per_instruction


def qemu_command(elf: Path, board: Board) -> list[str]:
    if board.qemu_machine is None:
        raise FirmwareError(
            f"board {board.name}: QEMU does not model it; emulate with --board netduinoplus2"
        )
    qemu = shutil.which("qemu-system-arm")
    if qemu is None:
        raise FirmwareError("qemu-system-arm not found on PATH (scripts/setup.sh installs it)")
    return [
        # USART1 reads QEMU's stdin: the image stream (`image_stream`).
        qemu, "-M", board.qemu_machine, "-nographic", "-monitor", "none", "-serial", "stdio",
        "-semihosting-config", "enable=on,target=native",
        # Virtual time advances 1 ns per instruction: SysTick counts instructions.
        "-icount", "shift=0",
        "-kernel", str(elf),
    ]  # fmt: skip


def image_stream(images: np.ndarray | None) -> bytes:
    """The bytes to send to the firmware's UART: `images` (uint8 N x H x W x C)
    under stream headers (`semanticnn_core::stream`), then the end header."""
    out = bytearray()
    if images is not None and len(images):
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}"
            )
        _, h, w, c = images.shape
        if c > 255 or h > 0xFFFF or w > 0xFFFF:
            raise ValueError(f"images: shape {images.shape} does not fit a stream header")
        for start in range(0, len(images), 0xFFFF):
            chunk = np.ascontiguousarray(images[start : start + 0xFFFF])
            out += struct.pack("<4sBBHHH", STREAM_MAGIC, 1, c, h, w, len(chunk))
            out += chunk.tobytes()
    return bytes(out + struct.pack("<4sBBHHH", STREAM_MAGIC, 1, 0, 0, 0, 0))


@dataclass(frozen=True)
class EncoderRun:
    """What the encoder firmware did in QEMU: its frames and what each cost."""

    frames: list[bytes]
    instructions: list[float]  # per inference (-icount shift=0: exact)
    macs: int  # per inference
    stack_peak: int | None  # bytes

    @property
    def mean_instructions(self) -> float:
        return sum(self.instructions) / len(self.instructions) if self.instructions else 0.0


def run_encoder(
    elf: Path, board: Board, *, timeout: float = EMULATE_TIMEOUT_S, images: np.ndarray | None = None
) -> EncoderRun:
    """Run the encoder firmware: the frames of its baked images, or of `images` streamed
    to its UART when given."""
    run = run_elf(elf, board, timeout=timeout, stream=image_stream(images))
    src = "baked" if images is None else "uart"
    records = [r for r in run.of("FRAME") if r.fields.get("src") == src]
    return EncoderRun(
        [bytes.fromhex(r.fields.get("hex", "")) for r in records],
        [run.instructions(r.int("ticks")) for r in records],
        run.of("MODEL")[0].int("macs") if run.of("MODEL") else 0,
        run.of("STACK")[0].int("peak") if run.of("STACK") else None,
    )


def run_elf(
    elf: Path, board: Board, *, timeout: float = EMULATE_TIMEOUT_S, stream: bytes | None = None
) -> Emulation:
    """Run `elf` in QEMU until the firmware exits; raise FirmwareError with the
    firmware's last words when it panics, fails or hangs past `timeout`.
    `stream` (default: just the end header) goes to the firmware's UART once it
    prints `READY`."""
    cmd = qemu_command(elf, board)
    stream = image_stream(None) if stream is None else stream
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)  # fmt: skip
    head = b""
    try:
        # Send the stream only once the UART is listening (QEMU drops bytes
        # that reach a disabled USART).
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)  # type: ignore[arg-type]
            while b"\nREADY" not in head:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(cmd, timeout)
                if not sel.select(left):
                    continue
                chunk = os.read(proc.stdout.fileno(), 1 << 16)  # type: ignore[union-attr]
                if not chunk:
                    break
                head += chunk
        rest, err = proc.communicate(input=stream, timeout=max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired as e:
        proc.kill()
        rest, _ = proc.communicate()
        out = (head + (rest or b"")).decode(errors="replace")
        raise FirmwareError(
            f"firmware did not finish within {timeout:.0f} s in QEMU (hung?); last output:\n"
            + _tail(out)
        ) from e
    stdout = (head + rest).decode(errors="replace")
    proc_stdout, proc_stderr = stdout, err.decode(errors="replace")
    records = parse_records(proc_stdout)
    panics = [r for r in records if r.tag == "PANIC"]
    if panics:
        raise FirmwareError(f"firmware panicked: {panics[0].fields['message']}")
    errors = [r for r in records if r.tag == "ERROR"]
    if errors:
        raise FirmwareError(f"firmware reported ERROR {errors[0].fields['message']}")
    if proc.returncode != 0 or not any(r.tag == "DONE" for r in records):
        raise FirmwareError(
            f"firmware failed in QEMU (exit status {proc.returncode}):\n"
            + _tail(proc_stdout + proc_stderr)
        )
    run = Emulation(records, stdout=proc_stdout)
    calib = run.of("CALIB")
    if calib:
        run.ticks_per_instruction = calib[0].int("ticks") / calib[0].int("instructions")
    return run


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(nothing)"
