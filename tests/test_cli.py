"""The command tree: every option explained, every command with an example, and the
library's exceptions as one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from semanticnn.cli import main
from semanticnn.cli.errors import one_line


def _commands(cmd: click.Command, path: str = "semanticnn") -> Iterator[tuple[str, click.Command]]:
    yield path, cmd
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, f"{path} {name}")


COMMANDS = dict(_commands(main))


def test_the_tree_has_every_command() -> None:
    assert set(COMMANDS) >= {
        "semanticnn train",
        "semanticnn eval",
        "semanticnn study",
        "semanticnn export",
        "semanticnn demo",
        "semanticnn firmware build",
        "semanticnn firmware emulate",
        "semanticnn firmware bench",
        "semanticnn flash",
        "semanticnn encode",
        "semanticnn receive",
        "semanticnn channel-demo",
        "semanticnn bench channel",
        "semanticnn bench encoder",
        "semanticnn bench train",
        "semanticnn zoo",
    }


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_every_option_has_help_and_every_command_an_example(path: str) -> None:
    cmd = COMMANDS[path]
    unexplained = [
        p.name for p in cmd.params if isinstance(p, click.Option) and not (p.help or "").strip()
    ]
    assert not unexplained, f"{path}: options without help: {unexplained}"
    last = (cmd.help or "").strip().split("\n\n")[-1]
    assert "Example" in last and "semanticnn" in last, f"{path}: help ends without an example"
    # The example runs the command it documents.
    assert path.split(" ", 1)[-1] in last or path == "semanticnn"
    res = CliRunner().invoke(main, [*path.split()[1:], "--help"])
    assert res.exit_code == 0 and "Example" in res.output


def test_library_errors_are_one_line(tmp_path: Path) -> None:
    bad_model = tmp_path / "bad.safetensors"
    bad_model.write_bytes(b"not a model")
    images = tmp_path / "images.npy"
    np.save(images, np.zeros((1, 28, 28, 1), np.uint8))
    out = tmp_path / "frames.bin"
    args = ["encode", "--model", str(bad_model), "--input", str(images), "--out", str(out)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert res.output.startswith("Error: ") and res.output.count("\n") == 1, res.output
    assert "Traceback" not in res.output and not out.exists()
    # A 0-byte .npy is an EOFError in numpy: still one line that names it.
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    res = CliRunner().invoke(main, ["encode", "--input", str(empty), "--out", str(out)])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "Aborted" not in res.output


def test_one_line() -> None:
    assert one_line(ValueError("two\nlines")) == "two lines"
    assert one_line(EOFError()) == "EOFError"
