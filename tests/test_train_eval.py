"""Training, --resume, evaluation and the CLI, end to end on a tiny dataset and config."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from semanticnn.cli import main
from semanticnn.train import load_run, stages, train_run
from semanticnn.train.config import TrainConfig


def _cli(*args: str) -> object:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _state(path: Path) -> dict[str, torch.Tensor]:
    obj = torch.load(path, map_location="cpu", weights_only=True)
    return {f"{m}.{k}": v for m in ("base", "aware", "blind") for k, v in obj[m].items()}


def test_train_writes_a_loadable_run(run_dir: Path) -> None:
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "model.pt"]
    run = load_run(run_dir)
    assert run.aware.decoder.ber_aware and not run.blind.decoder.ber_aware
    assert run.aware.latent_shape() == (3, 7, 7)
    with torch.no_grad():
        _, sym = run.aware.encoder(torch.rand(2, 1, 28, 28))
    assert sym.shape == (2, 3, 7, 7) and int(sym.max()) < 8


def test_resume_continues_an_interrupted_run_to_the_same_result(
    tmp_path: Path,
    dataset: str,
    tiny: dict[str, int],
    run_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cfg = TrainConfig(dataset=dataset, **tiny)
    out = tmp_path / "r"
    real = stages.stage2_epoch
    calls = {"n": 0}

    def interrupted(*args: object, **kwargs: object) -> float:
        calls["n"] += 1
        if calls["n"] == 2:  # the second epoch of the BER-aware stage 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(stages, "stage2_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, out)
    monkeypatch.setattr(stages, "stage2_epoch", real)
    assert (out / "checkpoint.pt").is_file() and not (out / "model.pt").exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # nothing half-written
    with pytest.raises(FileExistsError, match="--resume"):
        train_run(cfg, out)
    with pytest.raises(ValueError, match="different configuration"):
        train_run(TrainConfig(dataset=dataset, **{**tiny, "lr": 1e-3}), out, resume=True)
    train_run(cfg, out, resume=True)
    assert not (out / "checkpoint.pt").exists()
    resumed, straight = _state(out / "model.pt"), _state(run_dir / "model.pt")
    assert resumed.keys() == straight.keys()
    for k in straight:
        torch.testing.assert_close(resumed[k], straight[k], msg=k)


def test_eval_writes_the_report(tmp_path: Path, run_dir: Path) -> None:
    from semanticnn import frame

    res = _cli("eval", str(run_dir), "--repeats", "1")
    assert res.exit_code == 0, res.output
    report = json.loads((run_dir / "report.json").read_text())
    assert (run_dir / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report["format"] == "semanticnn-report" and report["version"] == 2
    assert report["split"] == "test"
    kinds = [link["kind"] for link in report["links"]]
    assert kinds == ["bsc"] * 7 + ["gilbert_elliott", "lossy", "lossy"]
    assert [link["mean_ber"] for link in report["links"][:7]] == [
        0,
        1e-4,
        1e-3,
        3e-3,
        1e-2,
        3e-2,
        0.1,
    ]
    names = set(report["systems"])
    assert {"original", "float32", "uint8", "uint8_crc", "semanticnn_blind", "semanticnn"} <= names
    assert {"semanticnn_oracle", "image_raw", "image_png"} <= names
    assert any(n.startswith("image_jpeg") for n in names)
    systems = report["systems"]
    for s in systems.values():
        assert len(s["accuracy"]) == len(s["delivery"]) == len(report["links"])
        assert all(0 <= a <= d <= 1 for a, d in zip(s["accuracy"], s["delivery"], strict=True))
    snn, f32 = systems["semanticnn"], systems["float32"]
    assert f32["payload_bytes"] == 4 * int(np.prod(report["split_shape"]))
    assert snn["payload_bytes"] == 56  # 147 symbols x 3 bits
    assert snn["frame_bytes"] == frame.HEADER_BYTES + 56 == snn["bytes_on_air"][0]
    assert snn["compression_on_air"] == pytest.approx(f32["payload_bytes"] / snn["frame_bytes"])
    assert snn["compression_payload"] == pytest.approx(f32["payload_bytes"] / 56)
    for name, s in systems.items():
        if s["kind"] != "reference":
            assert s["delivery"][0] == 1.0, name  # BER 0: every frame arrives
        if s["kind"] == "semantic":
            assert s["payload_accuracy"][0] == s["accuracy"][0]
            assert s["delivery"][-1] < 1.0  # 5% of frames erased
    # Digital frames at BER 0.1 never pass their CRC; each try is counted.
    for name, s in systems.items():
        if s["kind"] == "digital":
            assert s["delivery"][6] == 0.0 and s["accuracy"][6] == 0.0, name
            assert s["bytes_on_air"][6] == pytest.approx(4 * s["frame_bytes"]), name
    orig = systems["original"]["accuracy"]
    assert len(set(orig)) == 1 and f32["accuracy"][0] == pytest.approx(orig[0])
    assert {t["target"] for t in report["targets"]} >= {
        "on-air compression >= 344x vs float32 split features"
    }
    assert "system" in res.output and "on-air compression" in res.output
    assert all(s.get("wrong_headers", 0) == 0 for s in systems.values())
    res = _cli(
        "eval", str(run_dir), "--repeats", "1", "--eval-set", "val", "--retransmissions", "0"
    )
    assert res.exit_code == 0, res.output
    val = json.loads((run_dir / "report.json").read_text())
    assert val["split"] == "val" and val["samples"] == 6  # 10% of the 64 training images
    assert val["retransmissions"] == 0
    assert (
        val["systems"]["image_raw"]["bytes_on_air"][6] == val["systems"]["image_raw"]["frame_bytes"]
    )


def test_gray_mapped_frames_decode_to_the_sent_symbols(
    tmp_path: Path, dataset: str, tiny: dict[str, int]
) -> None:
    """With Gray mapping on the air, the receiver undoes it: at BER 0 the decoder told the
    true BER gives what the model gives its own symbols; a lossy link loses frames."""
    from semanticnn.data import load_dataset
    from semanticnn.eval import evaluate_run
    from semanticnn.link import BSC, Lossy

    out = tmp_path / "gray"
    train_run(TrainConfig(dataset=dataset, gray=True, **tiny), out)
    run = load_run(out)
    assert run.aware.gray
    report = evaluate_run(run, 1, links=[BSC(0.0), Lossy(1e-3, p_erasure=0.5, p_truncation=0.5)])
    assert report["gray"]
    x = torch.from_numpy(load_dataset(dataset).test.x)
    with torch.no_grad():
        _, sym = run.aware.encoder(x)
        values = run.aware.encoder.quantizer.dequantize(sym)
        pred = run.aware.tail(run.aware.decode(values, torch.zeros(len(x)))).argmax(1)
    y = load_dataset(dataset).test.y
    oracle = report["systems"]["semanticnn_oracle"]
    assert oracle["accuracy"][0] == pytest.approx(float((pred.numpy() == y).mean()))
    for name, s in report["systems"].items():
        assert s["wrong_headers"] == 0, name
        if s["kind"] == "semantic":
            assert s["payload_accuracy"][0] == s["accuracy"][0]
            assert s["delivery"][1] < 0.6  # half of the frames erased, a quarter cut


def test_study_aggregates_seeds_and_resumes(
    tmp_path: Path, dataset: str, tiny: dict[str, int]
) -> None:
    out = tmp_path / "study"
    args = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items()]
    cmd = ["study", "--out", str(out), "--seeds", "2", "--repeats", "1", "--jobs", "1"]
    res = _cli(*cmd, "--dataset", dataset, *args)
    assert res.exit_code == 0, res.output
    study = json.loads((out / "study.json").read_text())
    assert study["format"] == "semanticnn-study" and study["seeds"] == [0, 1]
    assert (out / "study.png").read_bytes()[:4] == b"\x89PNG"
    per_seed = [json.loads((out / f"seed-{k}" / "report.json").read_text()) for k in (0, 1)]
    for name, s in study["systems"].items():
        accs = np.array([r["systems"][name]["accuracy"] for r in per_seed])
        np.testing.assert_allclose(s["accuracy"], accs.mean(0))
        assert len(s["accuracy_ci95"]) == len(study["links"])
    diff = study["paired"]["semanticnn - semanticnn_blind"]
    np.testing.assert_allclose(
        diff["mean"],
        np.mean(
            [
                np.subtract(
                    r["systems"]["semanticnn"]["accuracy"],
                    r["systems"]["semanticnn_blind"]["accuracy"],
                )
                for r in per_seed
            ],
            0,
        ),
    )
    assert "paired semanticnn - semanticnn_blind" in res.output
    # Run again: every seed is reused, nothing retrained or re-evaluated.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("seed-*/*") if p.suffix in (".pt", ".json")}
    res = _cli(*cmd, "--dataset", dataset, *args)
    assert res.exit_code == 0, res.output
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}
    # Another configuration in the same folder is refused with a clear line.
    res = CliRunner().invoke(main, [*cmd, "--dataset", dataset, *args, "--lr", "0.1"])
    assert res.exit_code != 0 and "different configuration" in res.output


def test_ablation_is_paired(tmp_path: Path, dataset: str, tiny: dict[str, int]) -> None:
    """Both variants start from the same weights and see the same batches and channel:
    on a clean link (BER 0 is BER feature 0) they train to the very same weights."""
    out = tmp_path / "clean"
    train_run(TrainConfig(dataset=dataset, ber_min=0.0, ber_max=0.0, **tiny), out)
    obj = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    assert obj["aware"].keys() == obj["blind"].keys()
    for k, v in obj["aware"].items():
        torch.testing.assert_close(v, obj["blind"][k], rtol=0, atol=0, msg=k)


def test_training_draws_a_ber_per_sample() -> None:
    rng = np.random.default_rng(0)
    cfg = TrainConfig(ber_min=1e-4, ber_max=1e-1, p_clean=0.25)
    ber = stages.draw_ber(rng, cfg, 4000)
    assert isinstance(ber, torch.Tensor) and ber.shape == (4000,)
    clean = ber == 0
    assert 0.2 < float(clean.float().mean()) < 0.3
    noisy = torch.log10(ber[~clean].double())
    assert float(noisy.min()) >= -4 and float(noisy.max()) <= -1
    assert abs(float(noisy.mean()) + 2.5) < 0.1  # log-uniform: mean log10 BER -2.5
    one = stages.draw_ber(rng, TrainConfig(ber_per_sample=False), 64)
    assert isinstance(one, float)


def test_cli_errors_name_the_problem(tmp_path: Path, dataset: str, run_dir: Path) -> None:
    res = CliRunner().invoke(main, ["eval", str(tmp_path / "nothing")])
    assert res.exit_code != 0 and "no finished run" in res.output and "no such folder" in res.output
    # A run saved before the validation hold-out has no validation split: one line.
    old = tmp_path / "old"
    old.mkdir()
    obj = torch.load(run_dir / "model.pt", map_location="cpu", weights_only=True)
    del obj["config"]["val_fraction"]
    torch.save(obj, old / "model.pt")
    res = CliRunner().invoke(main, ["eval", str(old), "--eval-set", "val"])
    assert res.exit_code != 0 and "no validation split" in res.output
    assert "Traceback" not in res.output and not (old / "report.json").exists()
    res = CliRunner().invoke(main, ["train", "--out", str(run_dir), "--dataset", dataset])
    assert res.exit_code != 0 and "--resume" in res.output
    res = CliRunner().invoke(
        main, ["train", "--out", str(tmp_path / "x"), "--dataset", f"npz:{tmp_path}/missing.npz"]
    )
    assert res.exit_code != 0 and "missing.npz" in res.output
    res = CliRunner().invoke(
        main, ["train", "--out", str(tmp_path / "y"), "--ber-min", "0.3", "--ber-max", "0.1"]
    )
    assert res.exit_code != 0 and "ber_min" in res.output
    res = CliRunner().invoke(main, ["train", "--batch-size", "many"])
    assert res.exit_code != 0 and "batch-size" in res.output


def test_torchrun_ddp_two_cpu_processes(tmp_path: Path, dataset: str, tiny: dict[str, int]) -> None:
    """Two gloo ranks train a few steps in lock-step and rank 0 writes the run."""
    out = tmp_path / "ddp"
    args = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items()]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "semanticnn.cli",
        "train",
        "--out",
        str(out),
        "--dataset",
        dataset,
        *args,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = load_run(out)
    assert run.info.dataset == "tiny"
    assert proc.stdout.count("[train] stage2/blind epoch 2/2") == 1  # printed by rank 0 only


def test_resume_from_a_damaged_checkpoint_is_one_line(
    tmp_path: Path, dataset: str, tiny: dict[str, int]
) -> None:
    out = tmp_path / "r"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(TrainConfig(dataset=dataset, **tiny).to_dict()))
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    args = [f"--{k.replace('_', '-')}={v}" for k, v in tiny.items()]
    res = CliRunner().invoke(
        main, ["train", "--out", str(out), "--resume", "--dataset", dataset, *args]
    )
    assert res.exit_code == 1 and "not a readable checkpoint" in res.output, res.output
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1
