"""The benchmarks' one timer: the median of repeated calls after a warm-up call."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

T = TypeVar("T")

CLOCKS: dict[str, Callable[[], float]] = {
    "wall": time.perf_counter,
    # CPU time of this thread: a row that runs on the calling thread only stays
    # meaningful on a machine shared with other jobs.
    "cpu": time.thread_time,
}


def median_seconds(fn: Callable[[], object], repeats: int, clock: str = "wall") -> float:
    """Median time of `repeats` calls of `fn` after one warm-up call."""
    return interleaved_seconds({"": fn}, repeats, clock)[""]


def interleaved_seconds(
    fns: Mapping[str, Callable[[], object]], repeats: int, clock: str = "wall"
) -> dict[str, float]:
    """Median time of each of `fns` after one warm-up call each, timed in turns (one
    call of each per round), so that a change in the machine's load hits every row
    alike."""
    now = CLOCKS[clock]
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = now()
            fn()
            times[name].append(now() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def timed_once(fn: Callable[[], T]) -> tuple[T, float]:
    """`fn()` and the wall time of that one call (for rows too slow to repeat)."""
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0
