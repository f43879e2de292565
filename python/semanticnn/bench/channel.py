"""`semanticnn bench channel`: channel models and packing against memcpy and naive numpy.

In one run, on one buffer (64 MiB by default), single-threaded: numpy's copy
of the buffer (memcpy), a naive numpy BSC (one uniform draw per bit, timed on
a 1 MiB slice because it needs 8 floats per byte of memory), the project's
BSC in place at several BERs, the Gilbert-Elliott channel, and pack/unpack at
n = 3 (throughput counted in symbol bytes).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import click
import numpy as np

from semanticnn import _core, bits, channel

BERS = (1e-4, 1e-3, 1e-2, 0.1, 0.5)
GE = {"p_gb": 1e-3, "p_bg": 0.1, "ber_good": 1e-4, "ber_bad": 0.1}
NAIVE_BYTES = 1 << 20


CLOCKS: dict[str, Callable[[], float]] = {
    "wall": time.perf_counter,
    # CPU time of this thread: every row runs on the calling thread, so this
    # stays meaningful on a machine shared with other jobs.
    "cpu": time.thread_time,
}


def _seconds(fn: Callable[[], object], repeats: int, clock: str = "wall") -> float:
    """Median time of `repeats` calls after one warm-up call."""
    now = CLOCKS[clock]
    fn()
    times = []
    for _ in range(repeats):
        t0 = now()
        fn()
        times.append(now() - t0)
    return statistics.median(times)


def naive_bsc(buf: np.ndarray, ber: float, rng: np.random.Generator) -> np.ndarray:
    """The textbook numpy BSC: one uniform draw per bit, flips packed back into bytes."""
    return buf ^ np.packbits(rng.random(buf.size * 8) < ber)


def run_bench(mib: int = 64, repeats: int = 3, clock: str = "wall") -> dict[str, Any]:
    size = mib << 20
    buf = np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)
    dst = np.empty_like(buf)
    rows: dict[str, float] = {}  # name -> GB/s

    def timed(fn: Callable[[], object]) -> float:
        return _seconds(fn, repeats, clock)

    def rate(nbytes: int, seconds: float) -> float:
        return nbytes / seconds / 1e9

    rows["memcpy (numpy copy)"] = rate(size, timed(lambda: np.copyto(dst, buf)))
    rng = np.random.default_rng(1)
    small = buf[:NAIVE_BYTES]
    rows["naive numpy BSC"] = rate(NAIVE_BYTES, timed(lambda: naive_bsc(small, 1e-3, rng)))
    for ber in BERS:
        t = timed(lambda b=ber: channel.bsc(dst, b, seed=7, out=dst, threads=1))
        rows[f"bsc ber={ber:g}"] = rate(size, t)
    t = timed(lambda: channel.gilbert_elliott(dst, **GE, seed=7, out=dst, threads=1))
    rows["gilbert_elliott"] = rate(size, t)
    symbols = (buf & 7).astype(np.uint8)
    packed = np.empty(bits.packed_len(size, 3), np.uint8)
    rows["pack n=3"] = rate(size, timed(lambda: _core.pack_into(symbols, 3, packed, 1)))
    rows["unpack n=3"] = rate(size, timed(lambda: _core.unpack_into(packed, 3, dst, 1)))

    memcpy, naive = rows["memcpy (numpy copy)"], rows["naive numpy BSC"]
    targets = [
        ("bsc ber=0.001 vs memcpy", rows["bsc ber=0.001"] / memcpy, 1.0),
        ("bsc ber=0.001 vs naive numpy", rows["bsc ber=0.001"] / naive, 200.0),
        ("bsc ber=0.1 vs memcpy", rows["bsc ber=0.1"] / memcpy, 0.25),
        ("pack n=3 vs memcpy", rows["pack n=3"] / memcpy, 0.5),
        ("unpack n=3 vs memcpy", rows["unpack n=3"] / memcpy, 0.5),
    ]
    return {
        "buffer_bytes": size,
        "threads": 1,
        "clock": clock,
        "gb_per_s": rows,
        "ratio_vs_memcpy": {k: v / memcpy for k, v in rows.items()},
        "targets": [{"name": n, "ratio": r, "target": t, "met": r >= t} for n, r, t in targets],
    }


@click.command("channel")
@click.option("--mib", default=64, show_default=True, help="Buffer size in MiB.")
@click.option("--repeats", default=3, show_default=True, help="Timed runs per row (median).")
@click.option(
    "--clock",
    type=click.Choice(sorted(CLOCKS)),
    default="wall",
    show_default=True,
    help="wall time, or this thread's CPU time (steadier on a busy machine).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def channel_bench(mib: int, repeats: int, clock: str, as_json: bool) -> None:
    """Channel models and bit packing (single thread) against memcpy and naive numpy."""
    if mib < 1 or repeats < 1:
        raise click.BadParameter("--mib and --repeats must be >= 1")
    r = run_bench(mib, repeats, clock)
    if as_json:
        click.echo(json.dumps(r, indent=2))
        return
    click.echo(f"channel: {mib} MiB buffer, 1 thread, {clock} clock (naive numpy: 1 MiB slice)")
    for name, gbs in r["gb_per_s"].items():
        click.echo(f"  {name:22s} {gbs:8.3f} GB/s  {r['ratio_vs_memcpy'][name]:8.3f}x memcpy")
    for t in r["targets"]:
        mark = "ok" if t["met"] else "MISSED"
        click.echo(f"  {t['name']:30s} {t['ratio']:9.2f}x (target >= {t['target']:g}) {mark}")
