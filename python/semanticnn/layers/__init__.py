"""Layers: BER-aware channel attention and soft demapping."""

from semanticnn.layers.attention import BERAttention, ber_feature, ber_input
from semanticnn.layers.demap import SoftDemapper, hamming_table

__all__ = ["BERAttention", "SoftDemapper", "ber_feature", "ber_input", "hamming_table"]
