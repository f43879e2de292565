"""`semanticnn bench channel` and `semanticnn channel-demo` run and report sane figures."""

from __future__ import annotations

import json

from click.testing import CliRunner
from semanticnn.channel_demo import run_demo
from semanticnn.cli import main


def test_bench_channel_json() -> None:
    res = CliRunner().invoke(main, ["bench", "channel", "--mib", "1", "--repeats", "1", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["buffer_bytes"] == 1 << 20
    assert set(r["gb_per_s"]) >= {"memcpy (numpy copy)", "naive numpy BSC", "bsc ber=0.1"}
    assert all(v > 0 for v in r["gb_per_s"].values())
    assert {t["name"] for t in r["targets"]} >= {
        "bsc ber=0.001 vs memcpy",
        "pack n=3 vs memcpy",
        "gilbert_elliott, 2 threads vs 1",
        "bsc_rows vs a loop of bsc",
    }
    assert r["frames"]["count"] == 100_000 and r["frames"]["bsc_rows_seconds"] > 0


def test_channel_demo() -> None:
    rows = {r.name: r for r in run_demo(frames=100, seed=1)}
    clean = rows["bsc 1e-3"]
    assert clean.survived == 100
    assert 0 < clean.symbol_errors < clean.symbols
    noisy = rows["bsc 1e-2"]
    assert noisy.survived >= 97
    assert 0.005 < noisy.estimates / noisy.survived < 0.015
    assert 0.005 < noisy.pilot_estimates / noisy.survived < 0.015
    res = CliRunner().invoke(main, ["channel-demo", "--frames", "20"])
    assert res.exit_code == 0, res.output
    assert "gilbert-elliott" in res.output
