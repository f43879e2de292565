"""The real boards: their clock plans, the images they build, the expected
time per image, and the probe paths (flash --attach, receive --rtt) up to
where hardware is needed."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from semanticnn import _core
from semanticnn import firmware as fw
from semanticnn.cli import main
from semanticnn.firmware.estimate import Expected, expected
from semanticnn.firmware.receive import RttLines, read_frames, rtt_command

VECTORS = Path(__file__).resolve().parent / "vectors"
GOLDEN = VECTORS / "default.safetensors"
MHZ = 1_000_000


def _sections(elf: Path) -> dict[str, tuple[int, int]]:
    """Section name -> (address, size) of an ELF32 little-endian file."""
    data = elf.read_bytes()
    (shoff,) = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x2E)
    headers = [struct.unpack_from("<10I", data, shoff + i * shentsize) for i in range(shnum)]
    names_at = headers[shstrndx][4]

    def name(offset: int) -> str:
        start = names_at + offset
        return data[start : data.index(b"\0", start)].decode()

    return {name(h[0]): (h[3], h[5]) for h in headers}


def _symbols(elf: Path) -> dict[str, int]:
    """Symbol name -> value from an ELF32 little-endian file's `.symtab`."""
    data = elf.read_bytes()
    (shoff,) = struct.unpack_from("<I", data, 0x20)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x2E)
    headers = [struct.unpack_from("<10I", data, shoff + i * shentsize) for i in range(shnum)]
    symtab = next(h for h in headers if h[1] == 2)  # SHT_SYMTAB
    strings = headers[symtab[6]][4]  # sh_link: its string table
    symbols = {}
    for at in range(symtab[4], symtab[4] + symtab[5], 16):
        name_at, value = struct.unpack_from("<II", data, at)
        start = strings + name_at
        symbols[data[start : data.index(b"\0", start)].decode(errors="replace")] = value
    return symbols


# The reference manuals' figures at 2.7-3.6 V, written out: RM0090 (F405),
# RM0390 (F446: over-drive above 168 MHz), RM0385 (F746: over-drive above 180 MHz).
@pytest.mark.parametrize(
    ("name", "sysclk_mhz", "pll", "wait_states", "overdrive"),
    [
        ("netduinoplus2", 16, None, 0, False),  # QEMU has no RCC: the reset clock
        ("nucleo-f446re", 180, (8, 180, 2, 8), 5, True),
        ("nucleo-f746zg", 216, (8, 216, 2, 9), 7, True),
    ],
)
def test_board_clocks_are_the_manuals(
    name: str,
    sysclk_mhz: int,
    pll: tuple[int, int, int, int] | None,
    wait_states: int,
    overdrive: bool,
) -> None:
    clock = fw.board(name).clock
    assert clock.sysclk_hz == sysclk_mhz * MHZ
    assert clock.pll == pll
    assert clock.flash_wait_states == wait_states
    assert clock.overdrive is overdrive
    if pll is not None:  # HSI / M * N / P
        m, n, p, _ = pll
        assert 16 * MHZ // m * n // p == clock.sysclk_hz


def test_clock_plan_of_an_unknown_board_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"board: no clock plan for .nucleo-f103rb."):
        _core.clock_plan("nucleo-f103rb")


def test_the_qemu_board_reports_its_clock_and_matches_the_plan(tmp_path: Path) -> None:
    built = fw.build(fw.board("netduinoplus2"), model=GOLDEN)
    run = fw.run_elf(built.elf, built.board)
    (clock,) = run.of("CLOCK")
    plan = built.board.clock
    assert clock.int("sysclk_hz") == plan.sysclk_hz
    assert clock.int("flash_wait_states") == plan.flash_wait_states
    assert clock.int("pll_m") == 0  # no PLL: SYSCLK is HSI
    assert not run.of("ERROR")


@pytest.mark.parametrize("name", ["nucleo-f446re", "nucleo-f746zg"])
def test_rtt_buffers_sit_first_in_ram(name: str) -> None:
    """The probe finds the control block by its symbol; on the F746 the
    buffers must be in the DTCM (0x2000_0000..0x2001_0000), which the data
    cache never holds."""
    built = fw.build(fw.board(name), model=GOLDEN)
    sections = _sections(built.elf)
    address, size = sections[".rtt"]
    assert address == 0x2000_0000 and 1024 + 8192 <= size < 0x1_0000
    # defmt's interned log strings, for the decoder: the info lines (banner,
    # clock, each image) are compiled in, not only the panic's error.
    symbols = _symbols(built.elf)
    infos = symbols["__DEFMT_MARKER_INFO_END"] - symbols["__DEFMT_MARKER_INFO_START"]
    assert infos >= 3 and ".defmt" in sections


def test_expected_time_is_a_lower_bound_from_the_qemu_count() -> None:
    f746 = fw.board("nucleo-f746zg")
    e = expected(f746, GOLDEN)
    qemu = fw.board("netduinoplus2")
    run = fw.run_elf(fw.build(qemu, model=GOLDEN).elf, qemu)
    counts = [run.instructions(r.int("ticks")) for r in run.of("FRAME")]
    assert e.instructions == pytest.approx(sum(counts) / len(counts))
    assert e.ms_one_per_cycle == pytest.approx(1e3 * e.instructions / (216 * MHZ))
    assert e.ms_lower_bound == pytest.approx(e.ms_one_per_cycle / 2)  # the M7 dual-issues
    m4 = Expected(fw.board("nucleo-f446re"), 3_600_000, 180 * MHZ)
    assert m4.ms_lower_bound == pytest.approx(20.0)
    assert m4.describe().startswith("expected >= 20.0 ms per image at 180 MHz (a lower bound")


def test_firmware_build_prints_clock_and_expected_time() -> None:
    res = CliRunner().invoke(
        main, ["firmware", "build", "--board", "nucleo-f446re", "--model", str(GOLDEN)]
    )
    assert res.exit_code == 0, res.output
    assert "nucleo-f446re: 180 MHz (HSI via PLL M/N/P/Q 8/180/2/8, 5 flash wait states" in (
        res.stderr
    )
    assert "nucleo-f446re: expected >= 17.8 ms per image at 180 MHz (a lower bound" in res.stderr
    assert res.stdout.strip().endswith("nucleo-f446re/encoder.elf")
    res = CliRunner().invoke(
        main,
        ["firmware", "build", "--board", "nucleo-f446re", "--model", str(GOLDEN), "--no-estimate"],
    )
    assert res.exit_code == 0 and "expected" not in res.stderr


def test_flash_checks_the_chip_before_building() -> None:
    res = CliRunner().invoke(
        main, ["flash", "--board", "nucleo-f746zg", "--chip", "STM32F999XX", "--model", str(GOLDEN)]
    )
    assert res.exit_code != 0
    assert "probe-rs does not know chip STM32F999XX (board nucleo-f746zg)" in res.output
    assert "building" not in res.output


def test_flash_attach_needs_an_rtt_board_and_unknown_boards_are_listed() -> None:
    res = CliRunner().invoke(main, ["flash", "--board", "netduinoplus2", "--attach"])
    assert res.exit_code == 2 and "board netduinoplus2 has no RTT" in res.output
    res = CliRunner().invoke(main, ["flash", "--board", "nucleo-f103rb"])
    assert res.exit_code == 2
    assert "'netduinoplus2', 'nucleo-f446re', 'nucleo-f746zg'" in res.output


def test_probe_rs_accepts_the_rtt_options() -> None:
    """The flags `receive --rtt` passes exist in the installed probe-rs."""
    import subprocess

    cmd = rtt_command([fw.probe_rs(), "attach", "--chip", "STM32F746ZGTx", "x.elf"], Path("f"))
    assert cmd[-1] == "x.elf" and "rtt:frames=f" in cmd
    helptext = subprocess.run(
        [fw.probe_rs(), "attach", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for flag in (a for a in cmd if a.startswith("--")):
        assert flag in helptext, flag


# Stands in for `probe-rs attach` where no board is connected: appends what the
# board printed to the `--target-output-file rtt:frames=PATH` file, in pieces
# that split lines, as RTT polling does, then stays attached.
STAND_IN = """
import sys, time
args = sys.argv[1:]
path = args[args.index("--target-output-file") + 1].split("=", 1)[1]
text = open(sys.argv[1], "rb").read()
with open(path, "ab") as f:
    for i in range(0, len(text), 37):
        f.write(text[i : i + 37]); f.flush(); time.sleep(0.001)
time.sleep(60)
"""


def test_receive_rtt_follows_the_frames_channel(tmp_path: Path) -> None:
    built = fw.build(fw.board("netduinoplus2"), model=GOLDEN)
    run = fw.run_elf(built.elf, built.board)
    printed = tmp_path / "printed.txt"
    printed.write_text(run.stdout)
    attach = [sys.executable, "-c", STAND_IN, str(printed), "firmware.elf"]
    with RttLines(attach) as lines:
        frames = list(read_frames(lines, timeout=10))
    assert frames == [bytes.fromhex(r.fields["hex"]) for r in run.of("FRAME")]


def test_receive_rtt_reads_what_probe_rs_wrote_before_it_exited(tmp_path: Path) -> None:
    built = fw.build(fw.board("netduinoplus2"), model=GOLDEN)
    run = fw.run_elf(built.elf, built.board)
    printed = tmp_path / "printed.txt"
    printed.write_text(run.stdout)
    at_once = STAND_IN.replace("37", "len(text)").replace("time.sleep(60)", "")  # then exits
    with RttLines([sys.executable, "-c", at_once, str(printed), "firmware.elf"]) as lines:
        frames = list(read_frames(lines, timeout=10))
    assert len(frames) == len(run.of("FRAME")) > 0


def test_receive_rtt_reports_probe_rs_failing(tmp_path: Path) -> None:
    fail = [sys.executable, "-c", "import sys; sys.exit('Error: no probe was found')", "x.elf"]
    with RttLines(fail) as lines, pytest.raises(fw.FirmwareError, match="no probe was found"):
        list(read_frames(lines, timeout=10))
    with pytest.raises(fw.FirmwareError, match="cannot run /nonexistent/probe-rs"):
        RttLines(["/nonexistent/probe-rs", "attach", "x.elf"])


def test_a_flash_shortfall_does_not_count_the_rtt_buffers() -> None:
    from semanticnn.firmware.build import _does_not_fit

    stderr = (
        "error: model m.safetensors does not fit board nucleo-f446re: its weights and "
        "parameters take 500000 bytes of flash, plus 131072 for the program, the board has 524288"
    )
    said = _does_not_fit(stderr, fw.board("nucleo-f446re"))
    assert said is not None
    assert said.endswith("(106784 bytes short; it fits netduinoplus2, nucleo-f746zg)")


def test_receive_rtt_options_and_a_missing_probe(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["receive", "--port", "/dev/null", "--rtt"])
    assert res.exit_code == 2 and "exactly one of --port and --rtt" in res.output
    res = CliRunner().invoke(main, ["receive", "--rtt"])
    assert res.exit_code == 2 and "--rtt needs --board" in res.output
    res = CliRunner().invoke(main, ["receive", "--rtt", "--board", "netduinoplus2"])
    assert res.exit_code == 2  # no RTT on the QEMU board
    elf = tmp_path / "encoder.elf"
    elf.write_bytes(b"\x7fELF")
    if fw.list_probes():
        pytest.skip("a debug probe is attached")
    res = CliRunner().invoke(
        main, ["receive", "--rtt", "--board", "nucleo-f746zg", "--elf", str(elf)]
    )
    assert res.exit_code == 1
    assert "no debug probe found" in res.output and "attach to chip STM32F746ZGTx" in res.output
