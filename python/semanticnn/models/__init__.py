"""Models: the encoder architecture, the base classifiers and the split SemanticNN model.

`semanticnn.models.architecture` is plain data and imports without torch; the torch
models below load on first use (`from semanticnn.models import SemanticNN`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from semanticnn.models.architecture import ConvSpec, default_architecture

if TYPE_CHECKING:
    from semanticnn.models.base import BaseClassifier, build_base
    from semanticnn.models.encoder import SemanticEncoder
    from semanticnn.models.split import BERAwareDecoder, SemanticNN

_LAZY = {
    "BaseClassifier": "base",
    "build_base": "base",
    "BERAwareDecoder": "split",
    "SemanticEncoder": "encoder",
    "SemanticNN": "split",
}

__all__ = [
    "BERAwareDecoder",
    "BaseClassifier",
    "ConvSpec",
    "SemanticEncoder",
    "SemanticNN",
    "build_base",
    "default_architecture",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
