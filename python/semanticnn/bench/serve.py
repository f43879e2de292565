"""`semanticnn bench serve`: the edge service's throughput and latency, in one run.

(a) The raw batched decoder: `EdgeService.decode` over batches of `max_batch` frames
held in memory (frames/s, no network). (b) End to end: a Mosquitto of its own, one
`semanticnn serve` process and the simulated devices (clean links, so that every frame
must be answered) at rising rates, fractions of (a): the highest rate sustained (every
frame answered, the last within a second of the sending's end), the p50/p99 latency
(publish to result) at half of it, and a run at that half rate across a broker restart.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from semanticnn import frame
from semanticnn.edge.broker import Mosquitto
from semanticnn.edge.service import EdgeService, Uplink
from semanticnn.edge.simulate import Fleet, Report, simulate
from semanticnn.link import BSC

FRACTIONS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)
BISECTIONS = 2
CLEAN = (BSC(0.0),)


def raw_rate(service: EdgeService, fleet: Fleet, max_batch: int, seconds: float) -> float:
    """Frames per second `service.decode` answers in batches of `max_batch`."""
    n = len(fleet.symbols)
    wires = [
        frame.encode(
            fleet.symbols[i % n],
            fleet.nbits,
            model_id=0,
            seq=i % (frame.MAX_SEQ + 1),
            gray=fleet.gray,
            mapped=True,
        )
        for i in range(max_batch * 8)
    ]
    done, start, k = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        now = time.monotonic()
        # A device per frame of the batch and a fresh one per batch: nothing is a duplicate.
        batch = [Uplink(f"raw{k}-{j}", w, now) for j, w in enumerate(wires[:max_batch])]
        done += sum(r is not None for r in service.decode(batch))
        k += 1
    return done / (time.perf_counter() - start)


def _serve(run_dir: Path, broker: str, max_batch: int, max_wait_ms: float) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "semanticnn.cli",
        "serve",
        str(run_dir),
        "--broker",
        broker,
        "--max-batch",
        str(max_batch),
        "--max-wait-ms",
        str(max_wait_ms),
        "--client-id",
        "bench-serve",
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if not line.startswith("serving "):
        proc.kill()
        raise RuntimeError(f"semanticnn serve did not start: {line}{proc.stderr.read()}")
    return proc


def _kept_up(r: Report, seconds: float) -> bool:
    return r.answered == r.sent and r.duplicates == 0 and r.seconds <= seconds + 1.0


def run_bench(
    run_dir: Path,
    devices: int = 1000,
    seconds: float = 5.0,
    max_batch: int = 64,
    max_wait_ms: float = 5.0,
) -> dict[str, Any]:
    from semanticnn.train import load_run

    fleet = Fleet.from_run(run_dir)
    raw = raw_rate(EdgeService({0: load_run(run_dir).aware}), fleet, max_batch, seconds)
    rows: list[dict[str, Any]] = []
    with Mosquitto() as broker:
        proc = _serve(run_dir, broker.url, max_batch, max_wait_ms)
        try:

            def send(rate: float, name: str, **extra: Any) -> Report:
                """Clean-link devices called `name` at `rate` for `seconds`."""
                frames = max(int(rate * seconds), 1)
                return simulate(fleet, broker.url, devices=devices, rate=rate, frames=frames,
                                links=CLEAN, name=name, **extra)  # fmt: skip

            def keeps_up(rate: float) -> bool:
                r = send(rate, f"r{len(rows)}-")
                kept = _kept_up(r, r.sent / rate)
                rows.append({**r.to_dict(), "fraction_of_raw": rate / raw, "kept_up": kept})
                return kept

            # Rising fractions of the raw rate until one falls behind, then two halvings
            # of the gap between the last kept and that one.
            sustained, behind = 0.0, 0.0  # 0: none fell behind
            for f in tqdm(FRACTIONS, desc="rates", leave=False):
                if not keeps_up(f * raw):
                    behind = f * raw
                    break
                sustained = f * raw
            for _ in range(BISECTIONS if behind else 0):
                mid = (sustained + behind) / 2
                if keeps_up(mid):
                    sustained = mid
                else:
                    behind = mid
            # (If not even the lowest rate was kept up, half of that.)
            half = (sustained or FRACTIONS[0] * raw) / 2
            at_half = send(half, "half-")
            midway = max(int(half * seconds), 1) // 2

            def restart_midway(i: int) -> None:
                if i == midway:
                    broker.restart()

            restarted = send(half, "restart-", during=restart_midway, settle_s=30)
        finally:
            proc.terminate()
            proc.communicate(timeout=60)
    e2e = sustained / raw
    p99 = at_half.percentile_ms(99)
    lost = (at_half.sent - at_half.answered) + (restarted.sent - restarted.answered)
    return {
        "devices": devices,
        "max_batch": max_batch,
        "max_wait_ms": max_wait_ms,
        "raw_frames_per_s": raw,
        "rates": rows,
        "sustained_frames_per_s": sustained,
        "at_half": at_half.to_dict(),
        "across_restart": restarted.to_dict(),
        "targets": [
            {
                "name": "end to end vs raw decoder",
                "value": e2e,
                "target": ">= 0.5",
                "met": e2e >= 0.5,
            },
            {
                "name": "p99 latency at half rate (ms)",
                "value": p99,
                "target": "<= 100",
                "met": bool(p99 <= 100),
            },
            {
                "name": "frames lost (QoS 1, one broker restart)",
                "value": lost,
                "target": "0",
                "met": lost == 0,
            },
        ],
    }


def format_lines(r: dict[str, Any]) -> list[str]:
    lines = [
        f"serve: {r['devices']} devices, batches of <= {r['max_batch']}, "
        f"<= {r['max_wait_ms']:g} ms wait",
        f"  raw batched decoder        {r['raw_frames_per_s']:10,.0f} frames/s",
    ]
    for row in r["rates"]:
        lines.append(
            f"  offered {row['rate']:8,.0f}/s ({row['fraction_of_raw']:.2f} of raw): "
            f"{row['answered']}/{row['sent']} answered, p50 {row['latency_ms_p50']:.1f} ms, "
            f"p99 {row['latency_ms_p99']:.1f} ms{'' if row['kept_up'] else '  (fell behind)'}"
        )
    h, x = r["at_half"], r["across_restart"]
    lines += [
        f"  sustained                  {r['sustained_frames_per_s']:10,.0f} frames/s",
        f"  at half of it: p50 {h['latency_ms_p50']:.1f} ms, p99 {h['latency_ms_p99']:.1f} ms",
        f"  across a broker restart: {x['answered']}/{x['sent']} answered once "
        f"({x['resent']} re-sent by the devices, {x['redelivered']} results redelivered)",
    ]
    for t in r["targets"]:
        value = t["value"]
        shown = f"{value:.2f}" if isinstance(value, float) else str(value)
        lines.append(
            f"  {t['name']:42s} {shown:>8s} (target {t['target']}) {'ok' if t['met'] else 'MISSED'}"
        )
    return lines
