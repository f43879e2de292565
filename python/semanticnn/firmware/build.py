"""Building the firmware: choosing the toolchain, running cargo, reading the
ELF's flash and RAM use."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import _core
from .boards import BOARDS, Board

TARGET = "thumbv7em-none-eabihf"
BUILD_TIMEOUT_S = 1800.0


class FirmwareError(RuntimeError):
    """A firmware step failed (toolchain, build, emulator, probe)."""


def firmware_dir() -> Path:
    """`firmware-rs/` of this checkout (or `$SEMANTICNN_FIRMWARE_DIR`)."""
    env = os.environ.get("SEMANTICNN_FIRMWARE_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "firmware-rs"
    if not (path / "Cargo.toml").is_file():
        raise FirmwareError(
            f"firmware sources not found at {path} (set SEMANTICNN_FIRMWARE_DIR to firmware-rs/)"
        )
    return path


@dataclass(frozen=True)
class Toolchain:
    """How to invoke cargo for the thumbv7em target."""

    cargo: str
    env: dict[str, str]
    extra_args: tuple[str, ...]
    description: str


def toolchain() -> Toolchain:
    """An installed rustup target when there is one; else Debian's rustc-web
    with its library source, building `core` for the target (-Zbuild-std)."""
    rustup = shutil.which("rustup")
    if rustup:
        listed = subprocess.run(
            [rustup, "target", "list", "--installed"], capture_output=True, text=True, check=False
        )
        if TARGET in listed.stdout.split():
            return Toolchain("cargo", {}, (), f"rustup target {TARGET}")
    debian_cargo, debian_rustc = Path("/usr/bin/cargo"), Path("/usr/bin/rustc")
    core_src = Path("/usr/lib/rustlib/src/rust/library/core")
    if debian_cargo.exists() and debian_rustc.exists() and core_src.is_dir():
        return Toolchain(
            str(debian_cargo),
            {"RUSTC": str(debian_rustc), "RUSTC_BOOTSTRAP": "1"},
            ("-Zbuild-std=core",),
            "Debian rustc-web + rust-web-src (-Zbuild-std=core)",
        )
    raise FirmwareError(
        f"no Rust toolchain for {TARGET}: looked for `rustup target list --installed` "
        f"listing {TARGET}, and for {debian_cargo}, {debian_rustc} and {core_src} "
        "(Debian packages cargo-web, rustc-web, rust-web-src; scripts/setup.sh installs them)"
    )


@dataclass(frozen=True)
class Region:
    origin: int
    length: int

    def __contains__(self, address: int) -> bool:
        return self.origin <= address < self.origin + self.length


def memory_regions(board: Board) -> dict[str, Region]:
    """FLASH and RAM of the board, from its `memory.x`."""
    text = (firmware_dir() / "boards" / board.name / "memory.x").read_text()
    try:
        return {name: Region(*_core.memory_region(text, name)) for name in ("FLASH", "RAM")}
    except ValueError as e:
        raise FirmwareError(f"{board.name}/memory.x: {e}") from None


@dataclass(frozen=True)
class Usage:
    flash: int
    flash_total: int
    ram: int  # static RAM: .data + .bss (the stack takes what is left)
    ram_total: int

    def describe(self) -> str:
        def pct(a: int, b: int) -> str:
            return f"{100 * a / b:.1f}%"

        return (
            f"flash {self.flash} B of {self.flash_total} B ({pct(self.flash, self.flash_total)}), "
            f"static RAM {self.ram} B of {self.ram_total} B ({pct(self.ram, self.ram_total)})"
        )


def elf_usage(elf: Path, board: Board) -> Usage:
    """Flash (bytes loaded into flash) and static RAM (bytes occupied in RAM)
    from the ELF32 program headers."""
    data = elf.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise FirmwareError(f"{elf}: not a little-endian ELF32 file")
    (phoff,) = struct.unpack_from("<I", data, 0x1C)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x2A)
    regions = memory_regions(board)
    flash = ram = 0
    for i in range(phnum):
        p_type, _, vaddr, paddr, filesz, memsz, _, _ = struct.unpack_from(
            "<8I", data, phoff + i * phentsize
        )
        if p_type != 1:  # PT_LOAD
            continue
        if paddr in regions["FLASH"]:
            flash += filesz
        if vaddr in regions["RAM"]:
            ram += memsz
    return Usage(flash, regions["FLASH"].length, ram, regions["RAM"].length)


@dataclass(frozen=True)
class Built:
    elf: Path
    board: Board
    usage: Usage


def build(
    board: Board,
    *,
    bin_name: str = "encoder",
    model: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Built:
    """`cargo build --release` of `src/bin/<bin_name>.rs` for `board`, with
    `model` baked in (the build script's default when None) and `env` added to
    the build script's environment. Returns the ELF,
    copied to `target/semanticnn/<board>/<bin>.elf` so boards do not
    overwrite each other."""
    root = firmware_dir()
    tc = toolchain()
    cargo_env = {**os.environ, **tc.env, **(env or {})}
    if model is not None:
        model = Path(model).resolve()
        if not model.is_file():
            raise FirmwareError(f"model: no such file {model}")
        cargo_env["SEMANTICNN_MODEL"] = str(model)
    else:
        cargo_env.pop("SEMANTICNN_MODEL", None)
    cmd = [
        tc.cargo, "build", "--release", "--bin", bin_name,
        "--no-default-features", "--features", board.name, *tc.extra_args,
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, cwd=root, env=cargo_env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
        )
    except FileNotFoundError as e:
        raise FirmwareError(f"cannot run {tc.cargo}: {e}") from None
    except subprocess.TimeoutExpired:
        raise FirmwareError(f"firmware build timed out after {BUILD_TIMEOUT_S:.0f} s") from None
    if proc.returncode != 0:
        too_big = _does_not_fit(proc.stderr, board)
        if too_big:
            raise FirmwareError(too_big)
        raise FirmwareError(
            f"firmware build for {board.name} failed ({tc.description}):\n"
            + _error_lines(proc.stderr)
        )
    built = root / "target" / TARGET / "release" / bin_name
    dest = built_elf(board, bin_name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".elf.tmp")
    shutil.copyfile(built, tmp)
    tmp.replace(dest)
    return Built(dest, board, elf_usage(dest, board))


def built_elf(board: Board, bin_name: str = "encoder") -> Path:
    """Where `build` leaves the ELF of `bin_name` for `board`."""
    return firmware_dir() / "target" / "semanticnn" / board.name / f"{bin_name}.elf"


# The build script's refusals (firmware-rs/build.rs) of a model the board cannot hold:
# its RAM (the bytes it needs), or its flash (the bytes the model takes, plus a reserve).
TOO_BIG = re.compile(
    r"error: (model .* does not fit board .*?(?:needs (?P<ram>\d+) bytes of RAM"
    r"|take (?P<flash>\d+) bytes of flash, plus (?P<reserve>\d+)).*)"
)


def _does_not_fit(stderr: str, board: Board) -> str | None:
    """The build script's refusal of a model too big for `board` as one line, with the
    shortfall and the boards that would hold it; None for any other failure."""
    found = TOO_BIG.search(stderr)
    if not found:
        return None
    if found["ram"]:
        # The boards with a probe also hold the RTT buffers (firmware-rs/src/rtt.rs).
        region, need = "RAM", int(found["ram"]) - _rtt_ram(board)
    else:
        region, need = "FLASH", int(found["flash"]) + int(found["reserve"])

    def needs(b: Board) -> int:
        return need + (_rtt_ram(b) if region == "RAM" else 0)

    short = needs(board) - memory_regions(board)[region].length
    fits = [b.name for b in BOARDS.values() if memory_regions(b)[region].length >= needs(b)]
    where = f"it fits {', '.join(fits)}" if fits else "no supported board has that much RAM"
    return f"{found[1].strip()} ({short} bytes short; {where})"


def _rtt_ram(board: Board) -> int:
    return int(_core.RTT_RAM) if board.rtt else 0


def _error_lines(stderr: str, limit: int = 60) -> str:
    """The useful end of cargo's output."""
    lines = [
        ln for ln in stderr.splitlines() if not ln.lstrip().startswith(("Compiling", "Downloaded"))
    ]
    return "\n".join(lines[-limit:])
