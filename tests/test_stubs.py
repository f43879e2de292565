"""The shipped type stub `_core.pyi` matches the built extension (mypy.stubtest)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_core_stub_matches_the_extension() -> None:
    pytest.importorskip("mypy")
    res = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "semanticnn._core"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
