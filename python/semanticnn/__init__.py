"""semanticnn: a semantic codec for offloading inference from microcontrollers."""

from semanticnn._core import __version__

__all__ = ["__version__"]
