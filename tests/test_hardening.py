"""Issue 14's classes of bad input, one test per example and a property per class:
output files, run folders that would run code, one-line CLI errors, datasets, bounded
work from model files, one validation of model files, argument checks, start-up."""

from __future__ import annotations

import math
import os
import pickle
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from semanticnn import bits, channel, frame, int8
from semanticnn.cli import main
from semanticnn.data import load_dataset
from semanticnn.fsutil import atomic_writer, write_bytes_atomic
from semanticnn.int8.reference import reference_encode
from semanticnn.npy import read_images
from semanticnn.train import load_run

VECTORS = Path(__file__).parent / "vectors"
MODEL = VECTORS / "default.safetensors"
IMAGES = VECTORS / "default_images.npy"


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _one_line_error(res: Result, *words: str) -> None:
    """A non-zero exit whose last line is click's `Error: ...` naming `words`."""
    assert res.exit_code != 0, res.output
    assert "Traceback" not in res.output, res.output
    last = res.output.strip().splitlines()[-1]
    assert last.startswith("Error: "), res.output
    for w in words:
        assert w in last, (w, res.output)


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# 1. Output files -------------------------------------------------------------------


def test_a_symlink_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    target = tmp_path / "target.bin"
    target.write_bytes(b"old")
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    write_bytes_atomic(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert _listing(tmp_path) == ["link.bin", "target.bin"]


def test_a_fifo_is_written_as_a_stream(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    write_bytes_atomic(fifo, b"frames")
    reader.join(timeout=10)
    assert got == [b"frames"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_permissions_are_kept_or_come_from_the_umask(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text("{}")
    old.chmod(0o640)
    write_bytes_atomic(old, b"[]")
    assert stat.S_IMODE(old.stat().st_mode) == 0o640
    umask = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "new.json", b"[]")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_outputs_that_cannot_be_files_are_refused_before_writing(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(IsADirectoryError, match="folder"):
        write_bytes_atomic(tmp_path, b"")
    with pytest.raises(NotADirectoryError, match="is a file"):
        write_bytes_atomic(tmp_path / "file" / "out.bin", b"")
    with pytest.raises(ValueError, match="empty"):
        write_bytes_atomic("", b"")
    assert (tmp_path / "file").read_bytes() == b"x" and _listing(tmp_path) == ["file"]


def test_kill_9_during_a_write_leaves_the_old_file_and_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "checkpoint.pt"
    out.write_bytes(b"previous")
    script = textwrap.dedent(f"""
        import time
        from semanticnn.fsutil import atomic_writer
        with atomic_writer({str(out)!r}) as f:
            f.write(b"half")
            f.flush()
            print("writing", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert out.read_bytes() == b"previous" and _listing(tmp_path) == ["checkpoint.pt"]


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(writes=st.lists(st.tuples(st.binary(max_size=64), st.booleans()), min_size=1, max_size=6))
def test_a_file_always_holds_the_last_completed_write(
    tmp_path: Path, writes: list[tuple[bytes, bool]]
) -> None:
    folder = tmp_path / f"w{time.monotonic_ns()}"
    out = folder / "out.bin"
    last: bytes | None = None
    for data, fails in writes:
        try:
            with atomic_writer(out) as f:
                f.write(data)
                if fails:
                    raise RuntimeError("interrupted")
            last = data
        except RuntimeError:
            pass
        assert (out.read_bytes() if out.exists() else None) == last
        assert _listing(folder) == (["out.bin"] if last is not None else [])


# 2. Run folders load weights only ---------------------------------------------------


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (Path.touch, (str(self.marker),))


def test_a_run_folder_cannot_run_code(tmp_path: Path, run_dir: Path) -> None:
    marker = tmp_path / "ran"
    evil = tmp_path / "evil"
    evil.mkdir()
    saved = torch.load(run_dir / "model.pt", weights_only=True)
    torch.save({**saved, "payload": _RunsCode(marker)}, evil / "model.pt")
    with pytest.raises(ValueError, match="would run code"):
        load_run(evil)
    _one_line_error(_cli("eval", str(evil), "--repeats", "1"), "not a readable checkpoint")
    assert not marker.exists()


def test_older_and_damaged_run_files_are_one_line(tmp_path: Path, run_dir: Path) -> None:
    saved = torch.load(run_dir / "model.pt", weights_only=True)
    older = tmp_path / "older"
    older.mkdir()
    torch.save({k: v for k, v in saved.items() if not k.startswith("format")}, older / "model.pt")
    _one_line_error(_cli("eval", str(older)), "not a semanticnn run file", "train it again")
    newer = tmp_path / "newer"
    newer.mkdir()
    torch.save({**saved, "format_version": 99}, newer / "model.pt")
    _one_line_error(_cli("export", str(newer)), "version 99")
    cut = tmp_path / "cut"
    cut.mkdir()
    data = (run_dir / "model.pt").read_bytes()
    (cut / "model.pt").write_bytes(data[: len(data) // 2])
    _one_line_error(_cli("eval", str(cut)), "not a readable checkpoint")


def test_demo_over_an_older_run_says_how_to_start_afresh(tmp_path: Path) -> None:
    import json

    from semanticnn.train.config import TrainConfig

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(TrainConfig().to_dict()))
    torch.save({"config": TrainConfig().to_dict()}, out / "model.pt")  # no format tag
    _one_line_error(_cli("demo", "--out", str(out)), "train it again", f"remove {out}")


# 3. One-line CLI errors -------------------------------------------------------------


def test_bad_outputs_are_one_line_before_any_work(tmp_path: Path, run_dir: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    under_file = str(tmp_path / "file" / "frames.bin")
    _one_line_error(_cli("encode", "--input", str(IMAGES), "--out", under_file), "is a file")
    _one_line_error(_cli("encode", "--input", str(IMAGES), "--out", ""), "empty")
    _one_line_error(_cli("export", str(run_dir), "--out", str(tmp_path)), "folder")
    _one_line_error(_cli("train", "--out", str(tmp_path / "file")), "is a file")
    assert _listing(tmp_path) == ["file"]


def _npy_header(shape: tuple[int, ...]) -> bytes:
    header = repr({"descr": "|u1", "fortran_order": False, "shape": shape}).encode()
    header += b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def test_bad_npy_inputs_are_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    huge = tmp_path / "huge.npy"
    huge.write_bytes(_npy_header((10**12, 8, 8, 1)) + bytes(64))
    floats = tmp_path / "floats.npy"
    np.save(floats, np.zeros((2, 8, 8, 1), np.float32))
    out = str(tmp_path / "frames.bin")
    _one_line_error(_cli("encode", "--input", str(empty), "--out", out), "not a .npy file")
    _one_line_error(_cli("encode", "--input", str(huge), "--out", out), "header declares")
    _one_line_error(_cli("encode", "--input", str(floats), "--out", out), "uint8")
    assert not Path(out).exists()


@settings(max_examples=200, deadline=None)
@given(cut=st.integers(0, 400), flips=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 255))))
def test_damaged_npy_files_are_read_exactly_or_refused(
    cut: int, flips: list[tuple[int, int]]
) -> None:
    good = _npy_header((3, 4, 4, 1)) + bytes(range(48))
    data = bytearray(good[: min(cut, len(good))] if cut < len(good) else good)
    for at, v in flips:
        if at < len(data):
            data[at] ^= v
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"npy-{os.getpid()}.npy"
    path.write_bytes(bytes(data))
    try:
        images = read_images(path)
    except ValueError:
        return
    finally:
        path.unlink()
    assert images.dtype == np.uint8 and images.ndim == 4 and images.nbytes <= len(data)


def test_emulate_checks_its_input_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from semanticnn.cli import firmware

    def no_build(*args: object) -> None:
        raise AssertionError("built before the input was checked")

    monkeypatch.setattr(firmware, "_build", no_build)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY")
    out = str(tmp_path / "f.bin")
    res = _cli("firmware", "emulate", "--board", "netduinoplus2", "--input", str(bad), "--out", out)
    _one_line_error(res, "not a .npy file")


# 4. Datasets -----------------------------------------------------------------------


def _npz(path: Path, x: np.ndarray, y: np.ndarray) -> str:
    np.savez(path, x=x, y=y)
    return f"npz:{path}"


@pytest.mark.parametrize(
    ("y", "x", "words"),
    [
        (np.arange(12) % 3, np.zeros((10, 8, 8), np.uint8), "12 labels for 10 images"),
        (np.arange(8) % 3, np.zeros((10, 8, 8), np.uint8), "8 labels for 10 images"),
        (np.r_[np.arange(9) % 3, -1], np.zeros((10, 8, 8), np.uint8), "label -1 at index 9"),
        (np.r_[np.arange(9) % 3, 2**40], np.zeros((10, 8, 8), np.uint8), "at index 9"),
        (np.arange(10) % 3 + 0.5, np.zeros((10, 8, 8), np.uint8), "must be integers"),
        (np.arange(10) % 3, np.full((10, 8, 8), np.nan, np.float32), "image 0"),
        (np.arange(10) % 3, np.full((10, 8, 8), 300.0), "outside 0..255"),
        (np.zeros(10, np.int64), np.zeros((10, 8, 8), np.uint8), "1 classes"),
    ],
)
def test_bad_datasets_are_refused_at_load(
    tmp_path: Path, y: np.ndarray, x: np.ndarray, words: str
) -> None:
    spec = _npz(tmp_path / "d.npz", x, y)
    with pytest.raises(ValueError, match=words):
        load_dataset(spec)
    _one_line_error(_cli("train", "--out", str(tmp_path / "run"), "--dataset", spec), words)
    assert not (tmp_path / "run").exists()


def test_a_dataset_smaller_than_a_batch_trains_nothing_and_says_so(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    spec = _npz(tmp_path / "d.npz", rng.integers(0, 255, (40, 8, 8), np.uint8), np.arange(40) % 4)
    res = _cli("train", "--out", str(tmp_path / "run"), "--dataset", spec, "--batch-size", "64")
    _one_line_error(res, "fewer than one batch of 64", "--batch-size")
    assert not (tmp_path / "run").exists()


def test_a_cifar_batch_cannot_run_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    root = tmp_path / "cifar"
    root.mkdir()
    batch = {b"data": _RunsCode(marker), b"labels": [0]}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        (root / name).write_bytes(pickle.dumps(batch))
    with pytest.raises(ValueError, match="refusing to load"):
        load_dataset(f"cifar10:{root}")
    assert not marker.exists()


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 12),
    labels=st.one_of(
        st.lists(st.integers(-3, 2**41), min_size=0, max_size=14),
        st.lists(st.floats(allow_nan=True), min_size=0, max_size=14),
    ),
    fill=st.sampled_from([0.0, 0.5, 255.0, -1.0, math.nan, math.inf, 256.0]),
)
def test_any_npz_loads_consistently_or_is_a_value_error(
    n: int, labels: list[float], fill: float
) -> None:
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ds-{os.getpid()}.npz"
    np.savez(path, x=np.full((n, 6, 6), fill), y=np.asarray(labels))
    try:
        data = load_dataset(f"npz:{path}")
    except ValueError:
        return
    finally:
        path.unlink()
    for part in (data.train, data.test):
        assert np.isfinite(part.x).all() and 0 <= part.x.min() and part.x.max() <= 1
        assert part.y.dtype == np.int64 and 0 <= part.y.min() and part.y.max() < data.num_classes


# 5 and 6. Model files: bounded work, one validation ---------------------------------


def test_a_small_model_file_cannot_ask_for_minutes(tmp_path: Path) -> None:
    path = tmp_path / "pools.safetensors"
    pool = int8.Pool2d("max", (16, 16), (1, 1), (15, 15))
    head = int8.Head(np.array([-1, 1], np.int32), frac_bits=0, power_norm=False)
    int8.write_model(path, int8.Input((1, 1, 16), 0, 1.0), [pool] * int8.MAX_LAYERS, head)
    assert path.stat().st_size < 20_000
    t0 = time.perf_counter()
    with pytest.raises(int8.ModelError, match="operations per inference"):
        int8.Encoder.load(path)
    with pytest.raises(int8.ModelError, match="operations per inference"):
        reference_encode(path, np.zeros((1, 1, 1, 16), np.uint8))
    assert time.perf_counter() - t0 < 5


def test_a_device_is_not_a_model_file(tmp_path: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    out = str(tmp_path / "f.bin")
    res = _cli("encode", "--model", "/dev/zero", "--input", str(IMAGES), "--out", out)
    _one_line_error(res, "not a regular file")


@settings(max_examples=60, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=6))
def test_the_reference_and_rust_agree_on_every_damaged_model(
    flips: list[tuple[int, int]],
) -> None:
    data = bytearray(MODEL.read_bytes())
    # Half the flips land in the header (the JSON graph), half anywhere.
    header = 8 + int.from_bytes(data[:8], "little")
    for k, (at, v) in enumerate(flips):
        data[at % (header if k % 2 else len(data))] ^= v
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"model-{os.getpid()}.safetensors"
    path.write_bytes(bytes(data))
    images = np.load(IMAGES)[:2]
    try:
        try:
            enc = int8.Encoder.load(path)
        except int8.ModelError:
            with pytest.raises(int8.ModelError):
                reference_encode(path, images)
            return
        if images.shape[1:] != enc.input_shape:
            return
        np.testing.assert_array_equal(reference_encode(path, images), enc.encode(images))
    finally:
        path.unlink()


@settings(max_examples=300, deadline=None)
@given(
    symbols=st.lists(st.integers(0, 7), max_size=40),
    cut=st.integers(0, 80),
    flips=st.lists(st.tuples(st.integers(0, 80), st.integers(1, 255)), max_size=4),
)
def test_damaged_frames_decode_or_raise_a_frame_error(
    symbols: list[int], cut: int, flips: list[tuple[int, int]]
) -> None:
    wire = bytearray(frame.encode(np.array(symbols, np.uint8), 3, model_id=1, seq=5))
    for at, v in flips:
        if at < len(wire):
            wire[at] ^= v
    try:
        got = frame.decode(bytes(wire[:cut]))
    except ValueError:
        return
    assert got.symbols.dtype == np.uint8 and int(got.symbols.max(initial=0)) < 2**got.nbits


# 7. Arguments ----------------------------------------------------------------------


def test_lax_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="count"):
        bits.packed_len(10.5, 3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="snr_db"):
        channel.ber_awgn("4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="snr_db"):
        channel.ber_awgn(math.nan)
    with pytest.raises(ValueError, match="p_gb"):
        channel.gilbert_elliott_mean_ber(-1, 1, 0.1, 0.2)
    with pytest.raises(TypeError, match="lengths"):
        channel.truncations(np.array([10.5]), 0.1, seed=1)


_NOT_A_COUNT = st.one_of(
    st.floats(), st.text(max_size=3), st.booleans(), st.none(), st.integers(max_value=-1)
)
_NOT_A_PROBABILITY = st.one_of(
    st.floats().filter(lambda v: not 0 <= v <= 1), st.text(max_size=3), st.booleans(), st.none()
)


@given(count=_NOT_A_COUNT, p=_NOT_A_PROBABILITY)
def test_every_bad_argument_is_a_type_or_value_error_naming_it(count: object, p: object) -> None:
    calls = [
        ("count", lambda: bits.packed_len(count, 3)),  # type: ignore[arg-type]
        ("count", lambda: bits.unpack(np.zeros(4, np.uint8), 3, count)),  # type: ignore[arg-type]
        ("count", lambda: channel.erasure(count, 0.1, seed=1)),  # type: ignore[arg-type]
        ("ber", lambda: channel.bsc(np.zeros(4, np.uint8), p, seed=1)),  # type: ignore[arg-type]
        ("p_bg", lambda: channel.gilbert_elliott_mean_ber(0.1, p, 0, 0.5)),  # type: ignore[arg-type]
        ("p_loss", lambda: channel.erasure(3, p, seed=1)),  # type: ignore[arg-type]
    ]
    for name, call in calls:
        with pytest.raises((TypeError, ValueError), match=name):
            call()


# 8. Start-up -----------------------------------------------------------------------


def test_help_does_not_import_torch() -> None:
    code = (
        "import sys\nfrom semanticnn.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "for name in ('torch', 'scipy', 'matplotlib'):\n    assert name not in sys.modules, name\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
