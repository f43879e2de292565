"""The firmware: its build, a run in QEMU, the CLI around it, probe-rs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from semanticnn import firmware as fw
from semanticnn.cli import main
from semanticnn.firmware.emulate import parse_records


@pytest.fixture(scope="module")
def built() -> fw.Built:
    return fw.build(fw.board("netduinoplus2"))


def test_build_reports_elf_and_fits_the_board(built: fw.Built) -> None:
    assert built.elf.is_file()
    assert 0 < built.usage.flash < built.usage.flash_total
    assert 0 < built.usage.ram < built.usage.ram_total
    assert built.usage.flash_total == 1024 * 1024
    assert built.usage.ram_total == 128 * 1024


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


def test_emulate_cli_writes_frames_and_json(tmp_path: Path) -> None:
    out = tmp_path / "frames.bin"
    res = CliRunner().invoke(
        main, ["firmware", "emulate", "--board", "netduinoplus2", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["board"] == "netduinoplus2"
    assert out.stat().st_size == sum(summary["frame_bytes"])


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
