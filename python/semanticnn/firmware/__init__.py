"""Building, emulating and flashing the STM32 firmware in `firmware-rs/`."""

from __future__ import annotations

from .boards import BOARDS, Board, board
from .build import Built, FirmwareError, Usage, build, firmware_dir, toolchain
from .emulate import Emulation, Record, run_elf
from .flash import chip_known, flash, list_probes, probe_rs

__all__ = [
    "BOARDS",
    "Board",
    "Built",
    "Emulation",
    "FirmwareError",
    "Record",
    "Usage",
    "board",
    "build",
    "chip_known",
    "firmware_dir",
    "flash",
    "list_probes",
    "probe_rs",
    "run_elf",
    "toolchain",
]
