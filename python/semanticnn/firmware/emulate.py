"""Running a firmware image in qemu-system-arm and reading what it printed.

The firmware writes one record per line, `TAG key=value ...` (see
`firmware-rs/src/log.rs`): `CALIB` (the counter's ticks for a loop of known
instruction count), `MODEL`, `FRAME`, `STACK` (peak stack bytes), `DONE`, and `PANIC` on a panic.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .boards import Board
from .build import FirmwareError

EMULATE_TIMEOUT_S = 120.0


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
    ignored. A `PANIC` line keeps its message whole under `message`."""
    records = []
    for line in text.splitlines():
        tag, _, rest = line.strip().partition(" ")
        if not tag.isupper():
            continue
        if tag == "PANIC":
            records.append(Record(tag, {"message": rest}))
            continue
        fields = dict(kv.partition("=")[::2] for kv in rest.split())
        records.append(Record(tag, fields))
    return records


@dataclass
class Run:
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
        qemu, "-M", board.qemu_machine, "-nographic", "-monitor", "none", "-serial", "none",
        "-semihosting-config", "enable=on,target=native",
        # Virtual time advances 1 ns per instruction: SysTick counts instructions.
        "-icount", "shift=0",
        "-kernel", str(elf),
    ]  # fmt: skip


def run_elf(elf: Path, board: Board, *, timeout: float = EMULATE_TIMEOUT_S) -> Run:
    """Run `elf` in QEMU until the firmware exits; raise FirmwareError with the
    firmware's last words when it panics, fails or hangs past `timeout`."""
    cmd = qemu_command(elf, board)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout or ""
        raise FirmwareError(
            f"firmware did not finish within {timeout:.0f} s in QEMU (hung?); last output:\n"
            + _tail(out)
        ) from None
    records = parse_records(proc.stdout)
    panics = [r for r in records if r.tag == "PANIC"]
    if panics:
        raise FirmwareError(f"firmware panicked: {panics[0].fields['message']}")
    if proc.returncode != 0 or not any(r.tag == "DONE" for r in records):
        raise FirmwareError(
            f"firmware failed in QEMU (exit status {proc.returncode}):\n"
            + _tail(proc.stdout + proc.stderr)
        )
    run = Run(records, stdout=proc.stdout)
    calib = run.of("CALIB")
    if calib:
        run.ticks_per_instruction = calib[0].int("ticks") / calib[0].int("instructions")
    return run


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:]) or "(nothing)"
