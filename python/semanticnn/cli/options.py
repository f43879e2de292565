"""Options that several commands share, each with its help text."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from semanticnn.errors import one_line
from semanticnn.firmware.boards import BOARDS
from semanticnn.fsutil import check_output_file, check_output_folder
from semanticnn.paths import DEFAULT_RUN
from semanticnn.train.config import TrainConfig

F = TypeVar("F", bound=Callable[..., Any])

# Channel seeds per noisy point of `eval` and `demo`. The BER-aware/BER-blind gap at BER
# 1e-2 is a few tenths of a point; over 3 seeds it moved by ~0.25 points with the seeds.
REPEATS = 10

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


def config_options(f: F, without: tuple[str, ...] = ()) -> F:
    """One `--option` per TrainConfig field but `without` (booleans as --x/--no-x), its
    default and help text the field's."""
    for fld in reversed(dataclasses.fields(TrainConfig)):
        if fld.name in without:
            continue
        flag = "--" + fld.name.replace("_", "-")
        if isinstance(fld.default, bool):
            flag = f"{flag}/--no-{flag[2:]}"
            kind: Any = bool
        else:
            kind = type(fld.default)
        f = click.option(
            flag,
            fld.name,
            type=kind,
            default=fld.default,
            show_default=True,
            help=fld.metadata["help"],
        )(f)
    return f


def pop_config(kwargs: dict[str, Any]) -> TrainConfig:
    """The TrainConfig of the `config_options` among a command's keyword arguments."""
    try:
        return TrainConfig(**{k: kwargs.pop(k) for k in list(kwargs) if k in _CONFIG_FIELDS})
    except ValueError as e:
        raise click.BadParameter(str(e)) from e


def set_threads(n: int) -> None:
    """torch's CPU threads (0 keeps torch's default)."""
    if n > 0:
        import torch

        torch.set_num_threads(n)


def _checked(check: Callable[[str], Path]) -> Callable[[click.Context, Any, Any], Any]:
    """A click callback that runs `check` on a path option as it is parsed, so that an
    output that cannot be written is refused before any work."""

    def callback(ctx: click.Context, param: Any, value: str | None) -> Path | None:
        # The option's type is a plain str: click.Path(path_type=Path) would turn "" into ".".
        if value is None:
            return None
        try:
            check(value)
        except (ValueError, OSError) as e:
            raise click.BadParameter(one_line(e)) from None
        return Path(value)

    return callback


output_file = _checked(check_output_file)
output_folder = _checked(check_output_folder)

run_dir_argument = click.argument("run_dir", type=click.Path(path_type=Path), default=DEFAULT_RUN)


def out_folder(default: Path, help: str) -> Callable[[F], F]:
    """`--out`, a folder the command writes into."""
    return click.option(
        "--out",
        type=click.Path(),
        default=str(default),
        show_default=True,
        callback=output_folder,
        help=help,
    )


out = out_folder(DEFAULT_RUN, "Run folder.")
repeats = click.option(
    "--repeats",
    type=click.IntRange(1),
    default=REPEATS,
    show_default=True,
    help="Channel seeds per noisy point.",
)
threads = click.option(
    "--threads",
    type=click.IntRange(0),
    default=0,
    help="torch CPU threads (0: torch's default).",
)
eval_set = click.option(
    "--eval-set",
    type=click.Choice(["test", "val"]),
    default="test",
    show_default=True,
    help="Evaluate on the test set (final figures) or the validation split held out of "
    "the training data (design choices).",
)
board = click.option(
    "--board", "board_name", type=click.Choice(sorted(BOARDS)), required=True, help="Target board."
)
model = click.option(
    "--model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Encoder model (.safetensors) to bake in; default: the build script's choice.",
)
frames_out = click.option(
    "--out",
    type=click.Path(),
    required=True,
    callback=output_file,
    help="Where to write the wire frames, back to back.",
)
as_json = click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
