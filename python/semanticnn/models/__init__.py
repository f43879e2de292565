"""Models: the base classifiers and the split SemanticNN model built on them."""

from semanticnn.models.base import BaseClassifier, build_base
from semanticnn.models.split import BERAwareDecoder, SemanticEncoder, SemanticNN

__all__ = ["BERAwareDecoder", "BaseClassifier", "SemanticEncoder", "SemanticNN", "build_base"]
