"""Layers: BER-aware channel attention."""

from semanticnn.layers.attention import BERAttention, ber_feature

__all__ = ["BERAttention", "ber_feature"]
