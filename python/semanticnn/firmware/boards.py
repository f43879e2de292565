"""The boards the firmware builds for: one record each, naming the chip and
how output and timing work. Memory sizes live in `firmware-rs/boards/*/memory.x`
(read by `build.memory_regions`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Board:
    name: str  # the cargo feature and the --board value
    chip: str  # probe-rs chip name
    cpu: str
    output: str  # "semihosting" or "uart"
    counter: str  # what the per-inference count counts
    qemu_machine: str | None = None  # qemu-system-arm -M, when QEMU models it


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(
            name="netduinoplus2",
            chip="STM32F405RGTx",
            cpu="Cortex-M4F",
            output="semihosting",
            counter="instructions",
            qemu_machine="netduinoplus2",
        ),
        Board(
            name="nucleo-f746zg",
            chip="STM32F746ZGTx",
            cpu="Cortex-M7",
            output="uart",
            counter="cycles",
        ),
    )
}


def board(name: str) -> Board:
    """The board called `name`, or a ValueError listing the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"board: unknown board {name!r}; known: {', '.join(BOARDS)}") from None
