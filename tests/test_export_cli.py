"""`semanticnn export`: the model file run by the Rust int8 encoder gives the symbols of
the fake-quantized PyTorch encoder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner
from semanticnn import int8
from semanticnn.cli import main
from semanticnn.data import load_dataset
from semanticnn.export import check_export, to_uint8_nhwc
from semanticnn.paths import BAKED_IMAGES
from semanticnn.train import load_run


def test_export_writes_a_model_the_rust_encoder_agrees_with(
    run_dir: Path, dataset: str, tmp_path: Path
) -> None:
    out = tmp_path / "enc.safetensors"  # not in run_dir: other tests list its files
    res = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(out)])
    assert res.exit_code == 0, res.output
    pct = float(re.search(r"\(([\d.]+)%\)", res.output).group(1))  # type: ignore[union-attr]
    assert pct >= 99.9
    enc = int8.Encoder.load(out)
    assert (enc.input_shape, enc.num_symbols, enc.levels) == ((28, 28, 1), 147, 8)
    run = load_run(run_dir)
    x = torch.from_numpy(load_dataset(dataset).test.x)
    check = check_export(run.aware.encoder, out, x)
    assert check.values == len(x) * 147 and check.fraction >= 0.999
    # The firmware build bakes these beside the model (firmware-rs/build.rs).
    images = np.load(tmp_path / "enc_images.npy")
    np.testing.assert_array_equal(images, to_uint8_nhwc(x[:BAKED_IMAGES]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc.safetensors", "enc_images.npy"]


def test_export_of_a_missing_run_is_a_clear_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["export", str(tmp_path / "none")])
    assert res.exit_code != 0 and "no finished run" in res.output
