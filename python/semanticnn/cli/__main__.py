"""`python -m semanticnn.cli`: what torchrun runs for multi-process training."""

from semanticnn.cli import main

main()
