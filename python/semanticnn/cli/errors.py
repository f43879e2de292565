"""The one place where the project's exceptions become one-line CLI errors.

Library code raises what fits (`ValueError` and its subclasses for bad input:
`ModelError`, `FrameError`, ...; `OSError` for files and ports;
`FirmwareError` for the build and the emulator) and never imports click. The
root group turns those into `Error: <message>` on stderr with exit status 1.
Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import click

from semanticnn.errors import one_line
from semanticnn.firmware.build import FirmwareError

USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, EOFError, FirmwareError)
# A missing optional dependency (torch, pyserial, ...): said in one line, with the cure.
INSTALL_HINT = "scripts/setup.sh installs every optional dependency into .venv/"


class Group(click.Group):
    """A click group whose commands' user errors end as one line, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except USER_ERRORS as e:
            raise click.ClickException(one_line(e)) from None
        except ImportError as e:
            raise click.ClickException(f"{one_line(e)} ({INSTALL_HINT})") from None
        except MemoryError as e:
            # Inputs are checked against their declared sizes first; this is what is left.
            raise click.ClickException(f"out of memory ({one_line(e)})") from None
