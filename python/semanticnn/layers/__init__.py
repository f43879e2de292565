"""Layers: BER-aware channel attention."""

from semanticnn.layers.attention import BERAttention, ber_feature, ber_input

__all__ = ["BERAttention", "ber_feature", "ber_input"]
