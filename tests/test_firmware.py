"""The firmware: its build, a run in QEMU, the CLI around it, probe-rs."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from semanticnn import firmware as fw
from semanticnn import int8
from semanticnn.cli import main
from semanticnn.firmware.bench import KINDS, ROWS, UNITS, format_table, run_bench
from semanticnn.firmware.emulate import image_stream, parse_records
from semanticnn.firmware.frames import host_frames
from semanticnn.models.architecture import ConvSpec

VECTORS = Path(__file__).resolve().parent / "vectors"
GOLDEN = VECTORS / "default.safetensors"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> fw.Built:
    b = fw.build(fw.board("netduinoplus2"), model=GOLDEN)
    # Keep this image: later builds (other models) overwrite the build's ELF.
    elf = tmp_path_factory.mktemp("fw") / "encoder.elf"
    shutil.copyfile(b.elf, elf)
    return dataclasses.replace(b, elf=elf)


def test_build_reports_elf_and_fits_the_board(built: fw.Built) -> None:
    assert built.elf.is_file()
    assert 0 < built.usage.flash < built.usage.flash_total
    assert 0 < built.usage.ram < built.usage.ram_total
    assert built.usage.flash_total == 1024 * 1024
    assert built.usage.ram_total == 128 * 1024


@pytest.mark.parametrize("name", ["nucleo-f446re", "nucleo-f746zg"])
def test_every_real_board_builds_and_fits(name: str) -> None:
    nucleo = fw.build(fw.board(name), model=GOLDEN)
    assert nucleo.elf.is_file() and nucleo.elf.parent.name == name
    assert 0 < nucleo.usage.flash < nucleo.usage.flash_total
    assert 0 < nucleo.usage.ram < nucleo.usage.ram_total


def test_qemu_run_calibrates_the_instruction_counter(built: fw.Built) -> None:
    run = fw.run_elf(built.elf, built.board)
    # SysTick at 168 MHz under -icount shift=0 (1 ns per instruction).
    assert run.ticks_per_instruction == pytest.approx(0.168, rel=1e-3)
    assert run.of("DONE")


def test_a_hung_firmware_times_out_cleanly(built: fw.Built) -> None:
    with pytest.raises(fw.FirmwareError, match="did not finish within"):
        fw.run_elf(built.elf, built.board, timeout=0.01)


def test_records_parse() -> None:
    recs = parse_records("noise\nFRAME i=0 ticks=12 hex=00ff\nPANIC at src/x.rs:1: boom x=1\n")
    assert [r.tag for r in recs] == ["FRAME", "PANIC"]
    assert recs[0].int("ticks") == 12 and recs[0].fields["hex"] == "00ff"
    assert recs[1].fields["message"] == "at src/x.rs:1: boom x=1"
    with pytest.raises(fw.FirmwareError, match="missing 'macs'"):
        recs[0].int("macs")


# mixed: every layer type; same: padding that differs between sides (TFLite's SAME)
@pytest.mark.parametrize("name", ["default", "mixed", "same"])
def test_qemu_frames_are_byte_identical_to_host_encode(name: str, tmp_path: Path) -> None:
    """Conformance: the firmware's frames for a golden model's test images
    equal what `semanticnn encode` produces on the host."""
    model, images = VECTORS / f"{name}.safetensors", VECTORS / f"{name}_images.npy"
    device, host = tmp_path / "device.bin", tmp_path / "host.bin"
    res = CliRunner().invoke(
        main,
        ["firmware", "emulate", "--board", "netduinoplus2", "--model", str(model),
         "--images", str(images), "--out", str(device), "--json"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["frames"] == len(np.load(images)) > 0
    assert summary["mean_instructions_per_inference"] > summary["macs_per_inference"] > 0
    res = CliRunner().invoke(
        main, ["encode", "--model", str(model), "--input", str(images), "--out", str(host)]
    )
    assert res.exit_code == 0, res.output
    assert device.read_bytes() == host.read_bytes()
    assert device.stat().st_size == sum(summary["frame_bytes"])


@pytest.mark.parametrize("name", ["default", "mixed"])  # mixed: the head Gray-maps
def test_frames_carry_center_indices_under_a_truthful_gray_flag(name: str) -> None:
    """The device's frames (equal to these, tested above) set the Gray flag when
    the head Gray-maps, so the edge decodes the center indices either way."""
    from semanticnn import bits, frame

    model = VECTORS / f"{name}.safetensors"
    head = int8.Encoder.load(model)
    assert head.gray == (name == "mixed")
    emitted = np.load(VECTORS / f"{name}_symbols.npy")  # as the head emits them
    sent = host_frames(model, np.load(VECTORS / f"{name}_images.npy"))
    for i, (f, s) in enumerate(zip(sent, emitted, strict=True)):
        d = frame.decode(f)
        assert (d.gray, d.seq, d.pilot_bits) == (head.gray, i, frame.DEVICE_PILOT_BITS)
        np.testing.assert_array_equal(d.symbols, bits.gray_decode(s) if head.gray else s)


def test_host_frames_wrap_the_sequence_number() -> None:
    from semanticnn import frame

    images = np.zeros((frame.MAX_SEQ + 4, 28, 28, 1), np.uint8)
    seqs = [frame.decode(f).seq for f in host_frames(GOLDEN, images)]
    assert seqs[-3:] == [0, 1, 2] and seqs[frame.MAX_SEQ] == frame.MAX_SEQ


def test_images_streamed_to_the_uart_give_the_host_frames(built: fw.Built) -> None:
    images = np.load(VECTORS / "default_images.npy")[:3][::-1]  # not the baked order
    run = fw.run_elf(built.elf, built.board, stream=image_stream(images))
    uart = [bytes.fromhex(r.fields["hex"]) for r in run.of("FRAME") if r.fields["src"] == "uart"]
    assert uart == host_frames(GOLDEN, np.ascontiguousarray(images))


@pytest.mark.parametrize(
    ("stream", "error"),
    [
        (b"GARBAGE!GARBAGE!", "bad magic"),
        (b"SNNI\x07" + bytes(11), "stream version 7"),
        (image_stream(np.zeros((1, 5, 5, 2), np.uint8)), "images are 5x5x2, the model takes"),
    ],
)
def test_a_malformed_stream_header_is_reported_not_a_panic(
    built: fw.Built, stream: bytes, error: str
) -> None:
    with pytest.raises(fw.FirmwareError, match=f"ERROR stream: {error}") as e:
        fw.run_elf(built.elf, built.board, stream=stream)
    assert "PANIC" not in str(e.value)


def test_build_fails_clearly_when_the_model_does_not_fit(tmp_path: Path) -> None:
    spec = ConvSpec(3, 32, kernel=3, stride=1, padding=1, relu=True)
    big = tmp_path / "big.safetensors"
    int8.write_model(big, *int8.synthetic_model([spec], (96, 96, 3)))  # 295 KB of activations
    with pytest.raises(fw.FirmwareError, match=r"does not fit board netduinoplus2.*RAM"):
        fw.build(fw.board("netduinoplus2"), model=big)


def test_the_rtt_buffers_count_in_the_ram_a_model_needs(tmp_path: Path) -> None:
    """47x47x3 -> 16 channels needs 122,004 B with the stack reserve: it fits the
    netduinoplus2's 128 KiB, not the NUCLEO-F446RE's same 128 KiB beside its RTT buffers."""
    spec = ConvSpec(3, 16, kernel=3, stride=1, padding=1, relu=True)
    model = tmp_path / "m.safetensors"
    int8.write_model(model, *int8.synthetic_model([spec], (47, 47, 3)))
    np.save(tmp_path / "m_images.npy", np.zeros((1, 47, 47, 3), np.uint8))
    assert fw.build(fw.board("netduinoplus2"), model=model).usage.ram < 128 * 1024
    with pytest.raises(
        fw.FirmwareError,
        match=r"RTT buffers 9344\), the board has 131072 \(276 bytes short; "
        r"it fits netduinoplus2, nucleo-f746zg\)",
    ):
        fw.build(fw.board("nucleo-f446re"), model=model)


# Ratio to CMSIS-NN per bench row, as measured in docs/firmware-bench.md.
MEASURED_RATIO = dict(
    zip(
        [r.name for r in ROWS],
        [
            0.86,
            0.77,
            0.76,
            0.77,
            0.71,
            0.85,
            0.86,
            0.99,
            0.65,
            0.67,
            0.61,
            0.64,
            0.84,
            0.79,
            0.63,
            0.53,
        ],
        strict=True,
    )
)


def test_kernel_bench_matches_the_host_and_keeps_pace_with_cmsis_nn() -> None:
    rows = run_bench()  # raises if an output differs from the host's reference
    assert [r["layer"] for r in rows] == [s.name for s in ROWS]
    assert {r["kind"] for r in rows} == set(KINDS)
    for r in rows:  # QEMU counts instructions exactly: the figures are deterministic
        assert r["unit"] == UNITS[str(r["kind"])]
        assert float(r["ratio"]) == pytest.approx(  # type: ignore[arg-type]
            float(r["instructions_per_unit"]) / float(r["cmsis_nn_instructions_per_unit"])  # type: ignore[arg-type]
        )
        # A regression guard, not the target (met/MISSED is reported, see
        # docs/firmware-bench.md): 10% above the ratio measured there.
        assert float(r["ratio"]) <= 1.1 * MEASURED_RATIO[str(r["layer"])], r  # type: ignore[arg-type]
    table = format_table(rows)
    assert table.count("\n") == len(rows) + 1 and ("met" in table or "MISSED" in table)


def test_emulate_refuses_a_board_qemu_does_not_model(tmp_path: Path) -> None:
    with pytest.raises(fw.FirmwareError, match="QEMU does not model"):
        fw.run_elf(tmp_path / "x.elf", fw.board("nucleo-f746zg"))


def test_unknown_board_is_named() -> None:
    with pytest.raises(ValueError, match="board: unknown board 'nope'"):
        fw.board("nope")


@pytest.mark.parametrize("name", sorted(fw.BOARDS))
def test_board_chip_is_known_to_probe_rs(name: str) -> None:
    assert fw.chip_known(fw.board(name).chip)
    assert not fw.chip_known("STM32F405XX_NOT_A_CHIP")


def test_flash_without_a_probe_names_what_it_looked_for(built: fw.Built) -> None:
    if fw.list_probes():
        pytest.skip("a debug probe is attached")
    with pytest.raises(fw.FirmwareError, match=r"no debug probe found.*chip STM32F405RGTx"):
        fw.flash(built.elf, built.board)


def test_firmware_reports_its_stack_use(built: fw.Built) -> None:
    (peak,) = fw.run_elf(built.elf, built.board).of("STACK")
    assert 0 < peak.int("peak") < built.usage.ram_total


def test_receive_reads_the_boards_frames_from_a_serial_port(built: fw.Built) -> None:
    import serial
    from semanticnn.firmware.receive import read_frames

    run = fw.run_elf(built.elf, built.board)
    port = serial.serial_for_url("loop://", timeout=0.05)
    port.write(run.stdout.encode())  # what the board prints, through pyserial
    frames = list(read_frames(port, timeout=5))
    assert frames == [bytes.fromhex(r.fields["hex"]) for r in run.of("FRAME")]
    port.write(b"FRAME i=0 ticks=1 hex=0g\n")
    with pytest.raises(fw.FirmwareError, match="malformed FRAME"):
        list(read_frames(port, timeout=5))
    port.write(b"PANIC at x.rs:1: boom\n")
    with pytest.raises(fw.FirmwareError, match="PANIC"):
        list(read_frames(port, timeout=5))
    with pytest.raises(fw.FirmwareError, match="no frame from the board for 0 s"):
        list(read_frames(port, timeout=0.1))


def test_receive_predicts_with_the_edge_decoder() -> None:
    import torch
    from semanticnn import frame
    from semanticnn.ber_estimate import LinkEstimate
    from semanticnn.firmware.receive import predict
    from semanticnn.models import SemanticNN, build_base
    from semanticnn.models.zoo import model_spec

    torch.manual_seed(0)
    model = SemanticNN(build_base(model_spec("tiny", "", (1, 28, 28), 10)), (32, 14, 14)).eval()
    c, h, w = model.latent_shape()
    rng = np.random.default_rng(0)
    frames = [
        frame.encode(rng.integers(0, 8, c * h * w, dtype=np.uint8), 3, model_id=0, seq=i,
                     pilot_bits=64)
        for i in range(4)
    ]  # fmt: skip
    labels = predict(model, frames)  # BER from each frame's pilot (0 here)
    assert len(labels) == 4 and all(0 <= k < 10 for k in labels)
    assert predict(model, frames[:1], ber=0.0) == labels[:1]  # batch-independent
    # A running link estimate takes each frame's header and pilot bits as evidence.
    link = LinkEstimate()
    assert len(predict(model, frames, link=link)) == len(frames)
    assert link.seen_errors == 0 and 3 * (120 + 64) < link.seen_bits < 4 * (120 + 64)
    with pytest.raises(ValueError, match=r"frames\[0\]: "):
        predict(model, [b"abc"])
    short = frame.encode(np.zeros(5, np.uint8), 3, model_id=0, seq=0)
    with pytest.raises(ValueError, match=r"frames\[0\]: 5 symbols of 3 bits"):
        predict(model, [short])


def test_device_frames_give_the_edge_the_pytorch_predictions(
    run_dir: Path, dataset: str, tmp_path: Path
) -> None:
    """End to end: a trained run's exported encoder on the device (QEMU), its
    frames decoded on the edge, against the PyTorch pipeline on the host."""
    import torch
    from semanticnn import frame
    from semanticnn.data import load_dataset
    from semanticnn.firmware.receive import predict
    from semanticnn.paths import BAKED_IMAGES
    from semanticnn.train import load_run

    model = tmp_path / "enc.safetensors"
    res = CliRunner().invoke(main, ["export", str(run_dir), "--out", str(model)])
    assert res.exit_code == 0, res.output
    # The build bakes the test images the export wrote beside the model.
    x = torch.from_numpy(load_dataset(dataset).test.x[:BAKED_IMAGES])
    n = len(x)
    built = fw.build(fw.board("netduinoplus2"), model=model)
    run = fw.run_elf(built.elf, built.board)
    frames = [bytes.fromhex(r.fields["hex"]) for r in run.of("FRAME")]
    assert len(frames) == n
    net = load_run(run_dir).aware
    got = predict(net, frames, ber=0.0)
    with torch.no_grad():
        _, sym = net.encoder(x)
        want = net.tail(net.decode(net.encoder.quantizer.dequantize(sym), torch.zeros(n)))
    device = [frame.decode(f).symbols for f in frames]
    host = sym.permute(0, 2, 3, 1).reshape(n, -1).to(torch.uint8).numpy()
    same = [bool(np.array_equal(d, h)) for d, h in zip(device, host, strict=True)]
    assert sum(same) >= n - 1  # the export check allows 0.1% of symbols to differ
    assert all(g == w for g, w, s in zip(got, want.argmax(1).tolist(), same, strict=True) if s)
