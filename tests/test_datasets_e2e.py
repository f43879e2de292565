"""Every input shape the whole way: `semanticnn train` -> `eval` -> `export` ->
`firmware build` -> `firmware emulate`, whose frames equal the host's (`semanticnn
encode`, `host_frames`), on small data of each format the loaders read:

- 28x28x1 from an `.npz` (`x`, `y`),
- 32x32x3 from a CIFAR-10 python-pickle folder,
- 8x8x1 from scikit-learn's digits (the real ones, embedded),
- 64x64x3 from an ImageFolder tree of PNGs; its int8 encoder does not fit the
  F405's 128 KiB of RAM, so the netduinoplus2 build must fail saying so and the
  F746 (nucleo-f746zg, no QEMU model) is only built.

Images are noise with a bright band whose row is the class, so a few steps learn
something; training is a few steps of every phase (the `tiny` fixture's settings).
"""

from __future__ import annotations

import json
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from semanticnn import frame, int8
from semanticnn.cli import main
from semanticnn.firmware.frames import host_frames
from semanticnn.paths import images_for

F405_RAM = 128 * 1024


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _banded(n: int, h: int, w: int, c: int, classes: int, seed: int) -> tuple[np.ndarray, ...]:
    """uint8 (n, h, w, c) noise with a bright band at row `class`, and the labels."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % classes)
    x = (rng.random((n, h, w, c)) * 60).astype(np.uint8)
    band = h // classes
    for i, k in enumerate(y):
        x[i, band * k : band * k + max(1, band // 2)] = 255
    return x, y


def _npz(root: Path) -> str:
    x, y = _banded(48, 28, 28, 1, 4, seed=0)
    np.savez(root / "d.npz", x=x[..., 0], y=y)
    return f"npz:{root / 'd.npz'}"


def _cifar10(root: Path) -> str:
    """`data_batch_1..5`, `test_batch` and `batches.meta`, as in cifar-10-batches-py."""
    x, y = _banded(48, 32, 32, 3, 4, seed=1)
    rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)  # CIFAR rows: R plane, G, B
    for i, part in enumerate(np.array_split(np.arange(48), 6)):
        name = f"data_batch_{i + 1}" if i < 5 else "test_batch"
        batch = {b"data": rows[part], b"labels": y[part].tolist(), b"batch_label": name.encode()}
        (root / name).write_bytes(pickle.dumps(batch))
    meta = {b"label_names": [f"c{i}".encode() for i in range(10)], b"num_vis": 3072}
    (root / "batches.meta").write_bytes(pickle.dumps(meta))
    return f"cifar10:{root}"


def _digits(root: Path) -> str:
    return "digits"


def _image_folder(root: Path) -> str:
    from PIL import Image

    x, y = _banded(40, 64, 64, 3, 4, seed=2)
    for i, (img, k) in enumerate(zip(x, y, strict=True)):
        (root / f"class{k}").mkdir(exist_ok=True)
        Image.fromarray(img).save(root / f"class{k}" / f"{i:03d}.png")
    return f"folder:{root}"


@dataclass(frozen=True)
class Shape:
    make: Callable[[Path], str]
    hwc: tuple[int, int, int]
    fits_f405: bool = True


SHAPES = {
    "28x28x1-npz": Shape(_npz, (28, 28, 1)),
    "32x32x3-cifar10": Shape(_cifar10, (32, 32, 3)),
    "8x8x1-digits": Shape(_digits, (8, 8, 1)),
    # 32x32x32 split features: the 8-bit baseline's 32,768 B go in two CRC frames.
    "64x64x3-folder": Shape(_image_folder, (64, 64, 3), fits_f405=False),
}


@dataclass(frozen=True)
class Trained:
    shape: Shape
    run: Path
    model: Path  # the exported encoder; its first test images beside it


@pytest.fixture(scope="module", params=list(SHAPES), ids=list(SHAPES))
def trained(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tiny: dict[str, int]
) -> Trained:
    shape = SHAPES[request.param]
    root = tmp_path_factory.mktemp(request.param)
    (root / "data").mkdir()
    spec = shape.make(root / "data")
    run = root / "run"
    opts = [f"--{k.replace('_', '-')}={v}" for k, v in {**tiny, "batch_size": 8}.items()]
    res = _cli("train", "--out", str(run), "--dataset", spec, *opts)
    assert res.exit_code == 0, res.output
    model = root / "encoder.safetensors"
    res = _cli("export", str(run), "--out", str(model))
    assert res.exit_code == 0, res.output
    agree = re.search(r"\(([\d.]+)%\)", res.output)  # Rust int8 vs fake-quant PyTorch symbols
    assert agree and float(agree[1]) >= 99.9, res.output
    assert int8.Encoder.load(model).input_shape == shape.hwc
    return Trained(shape, run, model)


def test_eval_reports_every_system(trained: Trained) -> None:
    res = _cli("eval", str(trained.run), "--repeats", "1")
    assert res.exit_code == 0, res.output
    report = json.loads((trained.run / "report.json").read_text())
    assert (trained.run / "report.png").is_file()
    for name, system in report["systems"].items():
        assert len(system["accuracy"]) == len(report["links"]), name
        assert all(0 <= a <= 1 for a in system["accuracy"]), name


def _frames_equal_host(model: Path, out: Path) -> None:
    """`firmware emulate` on netduinoplus2 writes the frames `encode` writes on the host."""
    images = images_for(model)
    device, host = out / "device.bin", out / "host.bin"
    res = _cli(
        "firmware", "emulate", "--board", "netduinoplus2", "--model", str(model),
        "--out", str(device), "--json",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    res = _cli("encode", "--model", str(model), "--input", str(images), "--out", str(host))
    assert res.exit_code == 0, res.output
    frames = host_frames(model, np.load(images))
    assert len(frames) == len(np.load(images)) > 0
    assert device.read_bytes() == host.read_bytes() == b"".join(frames)
    assert frame.decode(frames[-1]).seq == len(frames) - 1


def test_firmware_runs_the_encoder_or_says_it_does_not_fit(
    trained: Trained, tmp_path: Path
) -> None:
    model = str(trained.model)
    if trained.shape.fits_f405:
        res = _cli("firmware", "build", "--board", "netduinoplus2", "--model", model)
        assert res.exit_code == 0, res.output
        _frames_equal_host(trained.model, tmp_path)
        return
    res = _cli("firmware", "build", "--board", "netduinoplus2", "--model", model)
    assert res.exit_code == 1
    found = re.search(
        r"does not fit board netduinoplus2: it needs (\d+) bytes of RAM .*"
        r"the board has (\d+)",
        res.output,
    )
    assert found, res.output
    need, have = int(found[1]), int(found[2])
    assert have == F405_RAM and need > have
    assert f"({need - have} bytes short; it fits nucleo-f746zg)" in res.output
    assert res.output.count("\n") <= 2, res.output  # the build line and one error line
    res = _cli("firmware", "build", "--board", "nucleo-f746zg", "--model", model)
    assert res.exit_code == 0, res.output
    assert "nucleo-f746zg: flash" in res.output
