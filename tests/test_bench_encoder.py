"""`semanticnn bench encoder`: the report's shape and its bit-exactness check (not timing)."""

from __future__ import annotations

import json

from click.testing import CliRunner
from pytest import approx
from semanticnn import int8
from semanticnn.bench.encoder import macs_per_image
from semanticnn.cli import main
from semanticnn.models.architecture import default_architecture


def test_macs_of_the_default_architecture() -> None:
    arch = default_architecture()
    # 28x28x16x9 + 14x14x32x144 + 7x7x32x288 + 7x7x3x32
    assert macs_per_image(arch, (28, 28, 1)) == 112_896 + 903_168 + 451_584 + 4_704


def test_bench_json_reports_every_path() -> None:
    res = CliRunner().invoke(
        main, ["bench", "encoder", "--batch", "8", "--repeats", "1", "--threads", "1", "--json"]
    )
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["batch"] == 8 and r["threads"] == 1
    assert r["rust_equals_reference"] is True
    for name in (
        "rust_int8",
        "rust_int8_latent",
        "litert_xnnpack",
        "torch_float32",
        "numpy_reference",
    ):
        assert r[name]["images_per_s"] > 0
        assert r[name]["mac_per_s"] == approx(r[name]["images_per_s"] * r["macs_per_image"])
    assert list(r["rust_int8_by_kernel"]) == int8.Encoder.kernels()
    assert r["rust_int8"] == r["rust_int8_by_kernel"][r["rust_kernel"]]
    rust, torch = r["rust_int8"]["images_per_s"], r["torch_float32"]["images_per_s"]
    assert r["ratio_vs_torch"] == approx(rust / torch)
    # LiteRT against the same work (the latent), and against the symbols.
    litert = r["litert_xnnpack"]["images_per_s"]
    assert r["ratio_vs_litert"] == approx(r["rust_int8_latent"]["images_per_s"] / litert)
    assert r["ratio_vs_litert_with_head"] == approx(rust / litert)
    assert 0 < r["litert_latent_equal"] <= 1
