"""The old import path of the QAT conv; the layers live in `semanticnn.quant.layers`."""

from semanticnn.quant.layers import (
    INPUT_SCALE,
    INPUT_ZERO_POINT,
    IntParams,
    QConv2d,
    QTensor,
    quantize_image,
    quantize_input,
)

__all__ = [
    "INPUT_SCALE",
    "INPUT_ZERO_POINT",
    "IntParams",
    "QConv2d",
    "QTensor",
    "quantize_image",
    "quantize_input",
]
