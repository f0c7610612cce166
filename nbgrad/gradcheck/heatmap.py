"""A block's relative errors laid out in 2-D and max-pooled to at most 48 × 48 cells.

The layout follows docs/report-schema.md: a scalar is 1 × 1, a vector one row,
a matrix itself, and an N-D array rows × last axis (so a conv kernel's output
channels stay on the columns).  Max pooling, not averaging, because one wrong
element among a thousand right ones must stay visible.  Unchecked elements
(fast mode) are NaN and become ``null``; a pooled cell is ``null`` only when
none of its elements was checked.

Size: the map travels in every saved notebook (JSON and static HTML), so its
values keep two significant digits (a colour needs no more; the exact worst
error is the block's ``max_rel_error``) and a passing block, where every cell
is one shade of "ok", is pooled to at most 8 × 8.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

#: Largest number of rows and of columns a heatmap has.
MAX_CELLS = 48
#: The same for a block that passed.
PASSING_CELLS = 8
#: Significant digits a heatmap value keeps.
DIGITS = 2


def layout(shape: tuple[int, ...]) -> tuple[int, int]:
    """Rows and columns of the 2-D view of a block of ``shape``."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, max(shape[0], 1)
    return max(math.prod(shape[:-1]), 1), max(shape[-1], 1)


def _pool_axis(values: np.ndarray, axis: int, limit: int) -> np.ndarray:
    length = values.shape[axis]
    if length <= limit:
        return values
    width = math.ceil(length / limit)
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


def heatmap(
    rel_error: np.ndarray, shape: tuple[int, ...], limit: int = MAX_CELLS
) -> dict[str, Any] | None:
    """The heatmap dictionary of the report (at most ``limit`` × ``limit``), None when empty."""
    if rel_error.size == 0:
        return None
    rows, cols = layout(shape)
    grid = rel_error.reshape(rows, cols)
    pooled = _pool_axis(_pool_axis(grid, 0, limit), 1, limit)
    values = [[float(f"{v:.{DIGITS}g}") if math.isfinite(v) else None for v in row]
              for row in pooled.tolist()]
    return {
        "rows": len(values),
        "cols": len(values[0]),
        "pooled": rows > limit or cols > limit,
        "values": values,
    }
