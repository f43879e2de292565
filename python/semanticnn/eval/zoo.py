"""`semanticnn zoo`: every zoo model on one data set, trained, evaluated as deployed,
exported and run on the device (QEMU) — one row each.

The folder holds one run folder per model (`<dataset>/<model>-<split>/`, with its
`report.json` and `encoder.safetensors`) and `zoo-<dataset>.json`. It resumes: a
finished run is reused, an interrupted one resumes its training, a report made with the
same evaluation settings is reused.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TypedDict

from semanticnn.eval.records import Report
from semanticnn.train.config import TrainConfig

ZOO_FORMAT = "semanticnn-zoo"
ZOO_VERSION = 1
# The clock the milliseconds are given at: the F405's (netduinoplus2) maximum.
CLOCK_HZ = 168e6
# The targets for the real base models.
TARGET_GAP_1E3 = 1.5  # points of delivered accuracy below the model's own unsplit one
TARGET_COMPRESSION = 300.0
EXPORT_MATCH = 0.999  # the share of the test set's symbols Rust must reproduce


class ZooRow(TypedDict):
    model: str
    split: str
    dataset: str
    original_accuracy: float  # the unsplit model, clean
    accuracy: dict[str, float]  # SemanticNN's delivered accuracy at BER "0", "0.001", "0.01"
    frame_bytes: float
    compression_on_air: float
    export_symbol_match: float  # Rust symbols equal to fake-quant PyTorch's, test set
    board: str
    fits: bool
    message: str  # why it does not fit, and where it would
    flash_bytes: int | None
    ram_bytes: int | None
    macs: int | None
    instructions: float | None  # per inference, QEMU
    ms_at_168mhz: float | None  # instructions / 168 MHz: a lower bound (1 cycle each)
    targets: dict[str, bool]


def run_dir(out: Path, cfg: TrainConfig) -> Path:
    from semanticnn.models.architecture import check_model

    dataset = cfg.dataset.replace(":", "_").replace("/", "_")
    name = f"{cfg.model}-{check_model(cfg.model, cfg.split, cfg.tail)}"
    return out / dataset / (f"{name}-{cfg.tail}" if cfg.model == "tiny" else name)


def _report(run: Path, repeats: int) -> Report:
    """The run's report: reused when made with these settings after the run finished,
    else evaluated again."""
    from semanticnn.eval.report import evaluate_run, plot_report, write_report
    from semanticnn.eval.study import report_matches
    from semanticnn.train import load_run

    path = run / "report.json"
    if _newer(path, run / "model.pt") and report_matches(path, repeats, "test"):
        report: Report = json.loads(path.read_text())
        return report
    report = evaluate_run(load_run(run), repeats)
    write_report(report, path)
    plot_report(report, run / "report.png")
    return report


def _newer(path: Path, than: Path) -> bool:
    return path.is_file() and path.stat().st_mtime >= than.stat().st_mtime


def _accuracy_at(report: Report, system: str, ber: float) -> float:
    from semanticnn.eval.report import link_index

    i = link_index(report, ber)
    if i is None:
        raise ValueError(f"the report has no BSC link at BER {ber:g}")
    return report["systems"][system]["accuracy"][i]


def zoo_row(cfg: TrainConfig, out: Path, repeats: int, board_name: str) -> ZooRow:
    """Train (or resume, or reuse), evaluate, export and emulate one zoo model."""
    import torch

    from semanticnn.data import load_dataset
    from semanticnn.export import check_export, export_encoder, write_test_images
    from semanticnn.firmware.boards import board
    from semanticnn.firmware.build import FirmwareError, build
    from semanticnn.firmware.emulate import run_encoder
    from semanticnn.models.architecture import check_model
    from semanticnn.paths import ENCODER_FILE
    from semanticnn.train import load_run, train_run

    run = run_dir(out, cfg)
    train_run(cfg, run, resume=True)
    report = _report(run, repeats)
    model = run / ENCODER_FILE
    trained = load_run(run)
    test = torch.from_numpy(load_dataset(cfg.dataset).test.x)
    if not _newer(model, run / "model.pt"):
        export_encoder(trained.aware.encoder, trained.info.input_shape, model, trained.aware.gray)
        write_test_images(model, test)
    match = check_export(trained.aware.encoder, model, test).fraction
    b = board(board_name)
    fits, message = True, ""
    flash = ram = macs = None
    instructions = None
    try:
        built = build(b, model=model)
        flash, ram = built.usage.flash, built.usage.ram
        emulated = run_encoder(built.elf, built.board) if b.qemu_machine else None
        if emulated is not None:
            macs, instructions = emulated.macs, emulated.mean_instructions
    except FirmwareError as e:
        if "does not fit" not in str(e):
            raise
        fits, message = False, str(e).split(": ", 1)[-1]
    snn = report["systems"]["semanticnn"]
    original = _accuracy_at(report, "original", 0.0)
    acc = {f"{ber:g}": _accuracy_at(report, "semanticnn", ber) for ber in (0.0, 1e-3, 1e-2)}
    compression = snn.get("compression_on_air") or 0.0
    if match < EXPORT_MATCH:
        raise ValueError(
            f"{model}: the Rust encoder reproduces only {100 * match:.3f}% of the fake-quant "
            f"PyTorch symbols (need {100 * EXPORT_MATCH:g}%)"
        )
    return ZooRow(
        model=cfg.model,
        split=check_model(cfg.model, cfg.split, cfg.tail),
        dataset=report["dataset"],
        original_accuracy=original,
        accuracy=acc,
        frame_bytes=snn["frame_bytes"] or 0.0,
        compression_on_air=compression,
        export_symbol_match=match,
        board=board_name,
        fits=fits,
        message=message,
        flash_bytes=flash,
        ram_bytes=ram,
        macs=macs,
        instructions=instructions,
        ms_at_168mhz=None if instructions is None else 1e3 * instructions / CLOCK_HZ,
        targets={
            f"within {TARGET_GAP_1E3} points of the unsplit model at BER 1e-3": 100
            * (original - acc["0.001"])
            <= TARGET_GAP_1E3,
            f"on-air compression >= {TARGET_COMPRESSION:g}x": compression >= TARGET_COMPRESSION,
            "fits the board": fits,
        },
    )


def run_zoo(
    cfg: TrainConfig,
    models: list[str],
    out: Path,
    repeats: int,
    board_name: str,
    split: str = "",
) -> list[ZooRow]:
    """One row per model of `models` on `cfg.dataset` (each at `split` when the model has
    that split point, else at its default); writes `zoo-<dataset>.json` into `out`."""
    from semanticnn.fsutil import write_text_atomic
    from semanticnn.models.architecture import SPLITS

    rows = []
    for name in models:
        at = split if split in SPLITS.get(name, ()) else ""
        rows.append(
            zoo_row(dataclasses.replace(cfg, model=name, split=at), out, repeats, board_name)
        )
    doc = {"format": ZOO_FORMAT, "version": ZOO_VERSION, "rows": rows}
    name = rows[0]["dataset"] if rows else "none"
    write_text_atomic(out / f"zoo-{name}.json", json.dumps(doc, indent=2) + "\n")
    return rows
