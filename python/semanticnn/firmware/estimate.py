"""Expected time per image on a real board, from the instruction count QEMU
measures for the same model on the netduinoplus2 (Cortex-M4F).

It is a lower bound: the count is divided by the board's clock and by the
most instructions its core retires per cycle (one on the Cortex-M4, two on
the dual-issue Cortex-M7). Flash wait states, cache misses, multi-cycle
instructions and pipeline stalls only add to it; the board's own DWT count
(`FRAME ... ticks=`, cycles) is the measurement.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .boards import BOARDS, Board
from .build import FirmwareError, build
from .emulate import run_encoder

QEMU_BOARD = "netduinoplus2"


@dataclass(frozen=True)
class Expected:
    board: Board
    instructions: float  # per image, counted in QEMU
    sysclk_hz: int

    @property
    def ms_one_per_cycle(self) -> float:
        """Milliseconds per image at one instruction per cycle."""
        return 1e3 * self.instructions / self.sysclk_hz

    @property
    def ms_lower_bound(self) -> float:
        """Milliseconds per image at the core's best instructions per cycle."""
        return self.ms_one_per_cycle / self.board.max_ipc

    def describe(self) -> str:
        mhz = self.sysclk_hz / 1e6
        bound = f"expected >= {self.ms_lower_bound:.1f} ms per image at {mhz:g} MHz"
        if self.board.max_ipc == 1:
            how = "one instruction per cycle at best"
        else:
            how = (
                f"{self.board.max_ipc} instructions per cycle at best; "
                f"{self.ms_one_per_cycle:.1f} ms at one per cycle"
            )
        return (
            f"{bound} (a lower bound: {self.instructions:,.0f} instructions counted in QEMU, {how})"
        )


def expected(board: Board, model: Path | None, env: dict[str, str] | None = None) -> Expected:
    """Build the same model for the QEMU board, run its baked images, and
    scale the mean instruction count to `board`'s clock. FirmwareError when
    the model does not fit the QEMU board or QEMU is missing."""
    qemu_board = BOARDS[QEMU_BOARD]
    built = build(qemu_board, model=model, env=env)
    run = run_encoder(built.elf, qemu_board)
    if not run.instructions:
        raise FirmwareError("the QEMU run encoded no image")
    return Expected(board, run.mean_instructions, board.clock.sysclk_hz)
