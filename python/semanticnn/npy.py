"""Image arrays from `.npy` files, checked from their header before the data is read.

A `.npy` header declares the array's dtype and shape; a damaged or hostile one can
claim 10^12 images or hold a pickle. `read_images` refuses anything but a plain
uint8 (N, H, W, C) array whose data is exactly as long as the header says, and
reads nothing more than that.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

import numpy as np

from semanticnn.errors import one_line


def read_images(path: str | os.PathLike[str]) -> np.ndarray:
    """uint8 (N, H, W, C) images from the `.npy` at `path` (N >= 1); a ValueError or
    OSError naming the file and what is wrong with it."""
    p = Path(path)
    with p.open("rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{p}: not a regular file")
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        except Exception as e:  # numpy's header parser raises ValueError, SyntaxError,
            # tokenize.TokenError, TypeError... on damaged headers: all mean the same here.
            raise ValueError(f"{p}: not a .npy file ({one_line(e)})") from e
        if dtype != np.uint8:
            raise ValueError(f"{p}: images must be uint8, the file holds {dtype}")
        if len(shape) != 4 or 0 in shape:
            raise ValueError(f"{p}: images must be a non-empty (N, H, W, C) array, got {shape}")
        data = info.st_size - f.tell()
        if data != math.prod(shape):
            raise ValueError(
                f"{p}: the header declares {shape} ({math.prod(shape):,} bytes), "
                f"the file holds {data:,} bytes of data"
            )
        images = np.fromfile(f, dtype=np.uint8, count=math.prod(shape))
    return np.ascontiguousarray(images.reshape(shape, order="F" if fortran else "C"))
