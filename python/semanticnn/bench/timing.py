"""The benchmarks' one timer: the median of repeated calls after a warm-up call."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
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
    now = CLOCKS[clock]
    fn()
    times = []
    for _ in range(repeats):
        t0 = now()
        fn()
        times.append(now() - t0)
    return statistics.median(times)


def timed_once(fn: Callable[[], T]) -> tuple[T, float]:
    """`fn()` and the wall time of that one call (for rows too slow to repeat)."""
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0
