"""The `semanticnn` command line."""

from __future__ import annotations

import click

from semanticnn import commands

from .bench.channel import channel_bench
from .bench.encoder import encoder as bench_encoder
from .channel_demo import channel_demo
from .firmware.cli import encode, firmware, flash, receive


@click.group()
@click.version_option(package_name="semanticnn")
def main() -> None:
    """SemanticNN: compressive, error-resilient semantic offloading."""


@main.group()
def bench() -> None:
    """Benchmarks that print the project's figure beside a baseline from the same run."""


main.add_command(commands.train)
main.add_command(commands.evaluate)
main.add_command(commands.study)
main.add_command(commands.export)
main.add_command(commands.demo)
main.add_command(firmware)
main.add_command(flash)
main.add_command(encode)
main.add_command(receive)
bench.add_command(bench_encoder)
main.add_command(channel_demo)
bench.add_command(channel_bench)

if __name__ == "__main__":
    main()
