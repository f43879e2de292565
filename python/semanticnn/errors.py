"""The library's errors as one line of text (the CLI's `Error:` lines and error
messages that quote an underlying error)."""

from __future__ import annotations


def one_line(error: BaseException) -> str:
    """The error's message on one line; its type's name when it has none."""
    text = " ".join(str(error).split())
    return text or type(error).__name__
