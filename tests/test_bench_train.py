"""`semanticnn bench train`: the report's shape and sanity (not timing), and the fused
requantization the QAT layers use for speed against the runtime's formula."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from pytest import approx
from semanticnn.cli import main
from semanticnn.quant.integer import I32_MAX, I32_MIN, requantize
from semanticnn.quant.layers import _requantize


def test_bench_json_reports_both_steps() -> None:
    args = ["bench", "train", "--batch", "2", "--repeats", "1", "--threads", "1"]
    res = CliRunner().invoke(main, [*args, "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert (r["model"], r["batch"], r["threads"], r["device"]) == ("tiny", 2, 1, "cpu")
    for name in ("qat", "float"):
        assert r[name]["seconds"] > 0
        assert r[name]["images_per_s"] == approx(2 / r[name]["seconds"])
    assert r["ratio"] == approx(r["qat"]["seconds"] / r["float"]["seconds"])
    assert r["target"] == 2.0 and r["met"] == (r["ratio"] <= 2.0 if r["device"] == "cpu" else None)


def test_bench_rejects_an_unknown_model() -> None:
    res = CliRunner().invoke(main, ["bench", "train", "--model", "vgg"])
    assert res.exit_code != 0 and "vgg" in res.output


@pytest.mark.parametrize("seed", range(4))
def test_fused_requantize_equals_the_core_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    c = 8
    mult = rng.integers(0, 2**31, c)
    mult[:3] = (0, 1, 2**31 - 1)
    shift = rng.integers(-31, 1 if seed < 2 else 31, c)  # seeds 2, 3: left shifts too
    shift[:2] = (0, -31)
    x = rng.integers(I32_MIN, I32_MAX + 1, (3, c, 4, 4))
    x.reshape(-1)[:4] = (I32_MIN, I32_MAX, -1, 0)
    xt = torch.from_numpy(x)
    want = requantize(xt, *(torch.from_numpy(t).view(1, -1, 1, 1) for t in (mult, shift)))
    assert torch.equal(_requantize(xt, mult, shift), want)
    one = requantize(xt, torch.tensor(int(mult[5])), torch.tensor(int(shift[5])))
    assert torch.equal(_requantize(xt, int(mult[5]), int(shift[5])), one)
