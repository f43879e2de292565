"""The `semanticnn` command line: one module a command group, one error handler
(`errors.Group`) that turns the library's exceptions into one-line messages.

| module | commands |
|---|---|
| `train.py` | `train`, `eval`, `study`, `zoo`, `export`, `import-tflite`, `demo` |
| `firmware.py` | `firmware build|emulate|bench`, `flash` |
| `link.py` | `encode`, `receive`, `channel-demo` |
| `edge.py` | `serve`, `devices simulate`, `broker` |
| `bench.py` | `bench channel`, `bench encoder`, `bench serve`, `bench train`, `bench tflite` |
"""

from __future__ import annotations

import click

from . import bench, edge, firmware, link, train
from .errors import Group


@click.group(cls=Group)
@click.version_option(package_name="semanticnn")
def main() -> None:
    """SemanticNN: compressive, error-resilient semantic offloading.

    \b
    Example:
      semanticnn demo
    """


for command in (
    train.train,
    train.evaluate,
    train.study,
    train.export,
    train.import_tflite_cmd,
    train.demo,
    train.zoo,
    firmware.firmware,
    firmware.flash,
    link.encode,
    link.receive,
    link.channel_demo,
    edge.serve,
    edge.devices,
    edge.broker_cmd,
    bench.bench,
):
    main.add_command(command)

__all__ = ["main"]
