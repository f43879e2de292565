"""The integer-only encoder: model files, the Rust runner, and a numpy reference.

The file format and every formula are specified in `docs/model-format.md`.

* `write_model(path, input, layers, head)` writes a model file from numpy arrays
  (used by the tests and by the training exporter);
* `Encoder.load(path).encode(images)` runs it in Rust (threads, GIL released);
* `reference_encode(path, images)` runs the same integer math in plain numpy,
  only to check the Rust path bit for bit.

One module a job: `layers` (the file's contents as dataclasses, `ModelError`),
`params` (integer parameters from real ones, TFLite's rules), `write`, `read`,
`encoder` (the Rust wrapper), `reference` (the numpy reference; reference-only),
`synthetic` (random models for tests and benches), `tflite_file` (the encoder as a
`.tflite` flatbuffer, out and in) and `litert` (LiteRT's interpreter as the peer and
the reference the conformance suite checks against). The encoder architecture lives in
`semanticnn.models.architecture`.
"""

from semanticnn.int8.encoder import Encoder
from semanticnn.int8.layers import (
    FORMAT,
    FORMAT_VERSION,
    FORMAT_VERSION_SYMMETRIC,
    MAX_FILE_BYTES,
    MAX_LAYERS,
    MAX_OPS,
    Activation,
    Add,
    Conv2d,
    DepthwiseConv2d,
    Head,
    Input,
    Layer,
    Model,
    ModelError,
    Padding,
    Pool2d,
    pads,
    same_padding,
)
from semanticnn.int8.params import (
    activation_range,
    add_multipliers,
    conv_multipliers,
    fixed_point_centers,
    quantize_multiplier,
)
from semanticnn.int8.read import read_model
from semanticnn.int8.reference import (
    reference_encode,
    reference_head,
    reference_tensors,
    requantize,
)
from semanticnn.int8.synthetic import synthetic_model
from semanticnn.int8.tflite_file import from_tflite, to_tflite
from semanticnn.int8.write import write_model

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "FORMAT_VERSION_SYMMETRIC",
    "MAX_FILE_BYTES",
    "MAX_LAYERS",
    "MAX_OPS",
    "Activation",
    "Add",
    "Conv2d",
    "DepthwiseConv2d",
    "Encoder",
    "Head",
    "Input",
    "Layer",
    "Model",
    "ModelError",
    "Padding",
    "Pool2d",
    "activation_range",
    "add_multipliers",
    "conv_multipliers",
    "fixed_point_centers",
    "from_tflite",
    "pads",
    "quantize_multiplier",
    "read_model",
    "reference_encode",
    "reference_head",
    "reference_tensors",
    "requantize",
    "same_padding",
    "synthetic_model",
    "to_tflite",
    "write_model",
]
