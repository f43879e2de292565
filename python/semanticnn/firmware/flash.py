"""Flashing a built image with probe-rs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .boards import Board
from .build import FirmwareError

PROBE_RS_TIMEOUT_S = 300.0


def probe_rs() -> str:
    """The probe-rs executable (PATH, then ~/.cargo/bin where `cargo install` puts it)."""
    found = shutil.which("probe-rs") or shutil.which(
        "probe-rs", path=str(Path.home() / ".cargo/bin")
    )
    if found is None:
        raise FirmwareError(
            "probe-rs not found on PATH or in ~/.cargo/bin "
            "(scripts/setup.sh --dev installs it: cargo install probe-rs-tools --locked)"
        )
    return found


def _probe_rs(*args: str, timeout: float = PROBE_RS_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
    cmd = [probe_rs(), *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise FirmwareError(f"`{' '.join(cmd)}` timed out after {timeout:.0f} s") from None


def list_probes() -> list[str]:
    """The debug probes probe-rs sees, one line each (empty when none)."""
    out = _probe_rs("list").stdout
    return [ln.strip() for ln in out.splitlines() if ln.strip().startswith("[")]


def chip_known(chip: str) -> bool:
    """Whether probe-rs has a target description for `chip` (`probe-rs chip info`)."""
    return _probe_rs("chip", "info", chip, timeout=60).returncode == 0


def check_chip(board: Board, chip: str | None = None) -> str:
    """The probe-rs chip name to use for `board` (`chip` overrides the board's);
    FirmwareError when probe-rs has no target description for it."""
    chip = chip or board.chip
    if not chip_known(chip):
        raise FirmwareError(
            f"probe-rs does not know chip {chip} (board {board.name}); "
            "`probe-rs chip list` lists the ones it knows"
        )
    return chip


def _wanted(probe: str | None) -> str:
    return f"probe {probe!r}" if probe else "any debug probe (ST-Link, CMSIS-DAP, J-Link, ...)"


def require_probe(board: Board, chip: str, probe: str | None, purpose: str) -> tuple[str, ...]:
    """probe-rs's probe selector arguments; FirmwareError when no probe is connected,
    or when several are and `probe` does not say which."""
    probes = list_probes()
    if not probes:
        raise FirmwareError(
            f"no debug probe found: `probe-rs list` found none while looking for "
            f"{_wanted(probe)} to {purpose} chip {chip} on board {board.name}; connect the "
            "board over USB (and check the udev rules / permissions)"
        )
    if len(probes) > 1 and not probe:
        raise FirmwareError(
            f"{len(probes)} debug probes found ({'; '.join(probes)}): choose the one of "
            f"board {board.name} with --probe VID:PID[:serial]"
        )
    return ("--probe", probe) if probe else ()


def flash(elf: Path, board: Board, *, chip: str | None = None, probe: str | None = None) -> str:
    """Download `elf` to the board's flash and reset it. Returns probe-rs's
    report; raises FirmwareError naming the chip and probe it looked for."""
    chip = chip or board.chip
    wanted = _wanted(probe)
    selector = require_probe(board, chip, probe, "flash")
    done = _probe_rs("download", "--chip", chip, *selector, str(elf))
    if done.returncode != 0:
        raise FirmwareError(
            f"probe-rs download to chip {chip} via {wanted} failed:\n{done.stderr.strip()}"
        )
    reset = _probe_rs("reset", "--chip", chip, *selector)
    if reset.returncode != 0:
        raise FirmwareError(f"probe-rs reset of chip {chip} failed:\n{reset.stderr.strip()}")
    return (done.stdout + done.stderr).strip()


def attach_command(
    elf: Path, board: Board, *, chip: str | None = None, probe: str | None = None
) -> list[str]:
    """`probe-rs attach` to the running firmware of `elf`: it prints the defmt
    log lines (RTT channel 0) and the records (channel 1) until interrupted.
    FirmwareError when no probe is connected."""
    chip = chip or board.chip
    selector = require_probe(board, chip, probe, "attach to")
    return [probe_rs(), "attach", "--chip", chip, *selector, str(elf)]
