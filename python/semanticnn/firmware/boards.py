"""The boards the firmware builds for: one record each, naming the chip and
how output and timing work. Memory sizes live in `firmware-rs/boards/*/memory.x`
(read by `build.memory_regions`); clocks in the core's
`semanticnn_core::firmware::clock` (read by `Board.clock`)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import _core


@dataclass(frozen=True)
class Clock:
    """A board's clock plan, as its firmware sets it and checks it."""

    sysclk_hz: int
    pll: tuple[int, int, int, int] | None  # M, N, P, Q; None: SYSCLK is HSI itself
    flash_wait_states: int
    overdrive: bool


@dataclass(frozen=True)
class Board:
    name: str  # the cargo feature and the --board value
    chip: str  # probe-rs chip name
    cpu: str
    output: str  # where the records go: "semihosting" or "uart+rtt"
    counter: str  # what the per-inference count counts
    caches: str  # what the firmware turns on, for people
    # The most instructions the core retires per cycle: the QEMU count over
    # this is a lower bound on cycles (the Cortex-M7 dual-issues).
    max_ipc: int
    qemu_machine: str | None = None  # qemu-system-arm -M, when QEMU models it

    @property
    def clock(self) -> Clock:
        plan = _core.clock_plan(self.name)
        return Clock(
            sysclk_hz=plan["sysclk_hz"],
            pll=plan["pll"],
            flash_wait_states=plan["flash_wait_states"],
            overdrive=plan["overdrive"],
        )

    @property
    def rtt(self) -> bool:
        """Whether the firmware logs (defmt) and sends its records over RTT."""
        return "rtt" in self.output


BOARDS: dict[str, Board] = {
    b.name: b
    for b in (
        Board(
            name="netduinoplus2",
            chip="STM32F405RGTx",
            cpu="Cortex-M4F",
            output="semihosting",
            counter="instructions",
            caches="ART accelerator caches and prefetch (set by the HAL; QEMU ignores them)",
            max_ipc=1,
            qemu_machine="netduinoplus2",
        ),
        Board(
            name="nucleo-f446re",
            chip="STM32F446RETx",
            cpu="Cortex-M4F",
            output="uart+rtt",
            counter="cycles",
            caches="ART accelerator: instruction and data caches, prefetch",
            max_ipc=1,
        ),
        Board(
            name="nucleo-f746zg",
            chip="STM32F746ZGTx",
            cpu="Cortex-M7",
            output="uart+rtt",
            counter="cycles",
            caches="L1 I-cache and D-cache (4 KiB each)",
            max_ipc=2,
        ),
    )
}


def board(name: str) -> Board:
    """The board called `name`, or a ValueError listing the known ones."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"board: unknown board {name!r}; known: {', '.join(BOARDS)}") from None
