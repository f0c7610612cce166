"""A block's relative errors laid out in 2-D and max-pooled to at most 48 × 48 cells.

The layout follows docs/report-schema.md: a scalar is 1 × 1, a vector one row,
a matrix itself, and an N-D array rows × last axis (so a conv kernel's output
channels stay on the columns).  Max pooling, not averaging, because one wrong
element among a thousand right ones must stay visible.  Unchecked elements
(fast mode) are NaN and become ``null``; a pooled cell is ``null`` only when
none of its elements was checked.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

#: Largest number of rows and of columns a heatmap has.
MAX_CELLS = 48


def layout(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of the 2-D view of a block of ``shape``."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, max(shape[0], 1)
    return max(math.prod(shape[:-1]), 1), max(shape[-1], 1)


def _pool_axis(values: np.ndarray, axis: int) -> np.ndarray:
    length = values.shape[axis]
    if length <= MAX_CELLS:
        return values
    width = math.ceil(length / MAX_CELLS)
    cells = math.ceil(length / width)
    pad = [(0, 0), (0, 0)]
    pad[axis] = (0, cells * width - length)
    padded = np.pad(values, pad, constant_values=np.nan)
    if axis == 0:
        grouped = padded.reshape(cells, width, padded.shape[1])
    else:
        grouped = padded.reshape(padded.shape[0], cells, width)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        return np.nanmax(grouped, axis=axis + 1)


def heatmap(rel_error: np.ndarray, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """The heatmap dictionary of the report, or None for an empty block."""
    if rel_error.size == 0:
        return None
    rows, cols = layout(shape)
    grid = rel_error.reshape(rows, cols)
    pooled = _pool_axis(_pool_axis(grid, 0), 1)
    values = [[float(v) if math.isfinite(v) else None for v in row] for row in pooled.tolist()]
    return {
        "rows": len(values),
        "cols": len(values[0]),
        "pooled": rows > MAX_CELLS or cols > MAX_CELLS,
        "values": values,
    }
