"""`semanticnn zoo`: every model trained, evaluated, exported and run in QEMU, one row
each; a second call reuses everything."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from semanticnn.cli import main


def test_zoo_rows_and_resume(tmp_path: Path, dataset: str, tiny: dict[str, int]) -> None:
    args = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items()]
    models = "tiny,resnet8,mobilenetv2-0.35"
    cmd = ["zoo", "--out", str(tmp_path), "--models", models, "--repeats", "1"]
    res = CliRunner().invoke(main, [*cmd, "--dataset", dataset, *args])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "zoo-tiny.json").read_text())
    rows = {r["model"]: r for r in doc["rows"]}
    assert set(rows) == set(models.split(",")) and rows["resnet8"]["split"] == "stage1"
    for r in rows.values():
        # Each device half fits the F405 and ran in QEMU: depthwise, pointwise, add...
        assert r["fits"] and r["flash_bytes"] > 0 and 0 < r["ram_bytes"] <= 128 * 1024
        assert r["export_symbol_match"] >= 0.999
        assert 0.5 * r["macs"] < r["instructions"] < 20 * r["macs"]
        assert 0 < r["ms_at_168mhz"] < 1e3 * 20 * r["macs"] / 168e6
        assert set(r["accuracy"]) == {"0", "0.001", "0.01"}
        assert r["compression_on_air"] > 100
    assert rows["resnet8"]["macs"] > rows["tiny"]["macs"]
    assert rows["mobilenetv2-0.35"]["split"] == "block3"
    assert "resnet8" in res.output and "MMAC" in res.output
    # Everything is reused: the same rows again.
    again = CliRunner().invoke(main, [*cmd, "--dataset", dataset, *args])
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "zoo-tiny.json").read_text()) == doc
    assert "[train]" not in again.output


def test_zoo_refuses_unknown_models(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["zoo", "--out", str(tmp_path), "--models", "tiny,vgg"])
    assert res.exit_code == 2 and "vgg" in res.output and "resnet8" in res.output
