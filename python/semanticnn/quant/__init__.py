"""Quantization: the soft quantizer (SQ) and power normalization."""

from semanticnn.quant.power import PowerNorm
from semanticnn.quant.sq import SoftQuantizer

__all__ = ["PowerNorm", "SoftQuantizer"]
