"""How big a divergence is: max absolute and relative difference, and ULPs.

Bit-exact digests say *whether* runs differ; a user deciding between "float
noise" and "bug" needs *how much*: one ULP of reordered summation looks very
different from garbage read out of uninitialised memory.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbgrad.backend import is_array, to_numpy
from nbgrad.report.base import json_float

_SIGNED = {2: np.int16, 4: np.int32, 8: np.int64}


@dataclass(frozen=True)
class Difference:
    max_abs: float | None
    max_rel: float | None
    max_ulps: int | None
    #: Share of the elements whose bits differ (a NaN row is "all differ", not "NaN").
    fraction: float | None = None


def _ordered_ints(values: np.ndarray) -> np.ndarray:
    """Map floats to integers whose differences count representable values (ULPs)."""
    signed = values.view(_SIGNED[values.dtype.itemsize]).astype(np.int64)
    bits = values.dtype.itemsize * 8
    return np.where(signed < 0, -(signed & ((1 << (bits - 1)) - 1)), signed)


def _as_host(value: Any) -> np.ndarray | None:
    if isinstance(value, deque):
        value = list(value)
    try:
        host = to_numpy(value) if is_array(value) else np.asarray(value)
    except (ValueError, TypeError):
        return None
    return host if host.dtype.kind in "biufc" else None


def difference(a: Any, b: Any) -> Difference | None:
    """Compare two values of the same shape; ``None`` when they are not comparable numbers.

    Dicts with the same keys (``history[step] = loss``) compare value by value.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return None
        a, b = list(a.values()), list(b.values())
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and \
            any(is_array(item) for item in (*a, *b)):  # a dict of arrays: no stacked copy
        return _combined(a, b)
    left, right = _as_host(a), _as_host(b)
    if left is None or right is None or left.shape != right.shape:
        return None
    if left.size == 0:
        return Difference(0.0, 0.0, 0, 0.0)
    left, right = left.reshape(-1), right.reshape(-1)
    parts = [_chunk(left[i:i + CHUNK], right[i:i + CHUNK]) for i in range(0, left.size, CHUNK)]
    deltas, rels, ulps, differing = zip(*parts, strict=True)
    return Difference(json_float(float(np.max(deltas))), json_float(float(np.max(rels))),
                      None if ulps[0] is None else max(ulps), sum(differing) / left.size)


def _combined(a: list[Any] | tuple[Any, ...], b: list[Any] | tuple[Any, ...]) -> Difference | None:
    """The difference of two sequences of arrays, item by item (the same as stacked)."""
    if len(a) != len(b) or len({np.shape(x) for x in (*a, *b)}) != 1:
        return None  # checked first: a ragged dict (``W1``, ``b1``) is never compared item by item
    parts = [difference(x, y) for x, y in zip(a, b, strict=True)]
    sizes = [np.size(x) for x in a]
    if any(p is None for p in parts):
        return None
    total = sum(sizes)
    if not total:
        return Difference(0.0, 0.0, 0, 0.0)

    def worst(values: list[Any]) -> Any:
        return None if any(v is None for v in values) else max(values)

    return Difference(worst([p.max_abs for p in parts]), worst([p.max_rel for p in parts]),
                      worst([p.max_ulps for p in parts]),
                      sum(p.fraction * n for p, n in zip(parts, sizes, strict=True)) / total)


#: Elements compared at a time: the temporaries stay a few MB whatever the size of the
#: arrays (a whole-array pass held eight array-sized temporaries at once).
CHUNK = 2**16


def _chunk(left: np.ndarray, right: np.ndarray) -> tuple[float, float, int | None, int]:
    """Max absolute and relative difference, max ULPs and differing count of one chunk."""
    with np.errstate(all="ignore"):
        delta = np.abs(left.astype(np.complex128 if left.dtype.kind == "c" else np.float64)
                       - right.astype(np.complex128 if right.dtype.kind == "c" else np.float64))
        scale = np.maximum(np.abs(left), np.abs(right)).astype(np.float64)
        rel = np.where(scale > 0, delta / np.where(scale > 0, scale, 1.0), 0.0)
        rel = np.where(np.isfinite(delta), rel, np.inf)  # NaN on one side: not "0 relative"
        both_nan = np.isnan(delta) & (np.isnan(left) & np.isnan(right))
        delta = np.where(both_nan, 0.0, delta)
        rel = np.where(both_nan, 0.0, rel)
    ulps = None
    if left.dtype == right.dtype and left.dtype.kind == "f" and left.dtype.itemsize in _SIGNED:
        ulps = _max_ulps(_ordered_ints(left), _ordered_ints(right))
    return float(np.max(delta)), float(np.max(rel)), ulps, _count_differing(left, right)


def _count_differing(left: np.ndarray, right: np.ndarray) -> int:
    """Elements that are not bit-identical (equal values of other dtypes count equal)."""
    if left.dtype == right.dtype and left.dtype.kind in "fc":
        width = left.dtype.itemsize
        a = np.ascontiguousarray(left).reshape(-1).view(np.uint8).reshape(-1, width)
        b = np.ascontiguousarray(right).reshape(-1).view(np.uint8).reshape(-1, width)
        differing = (a != b).any(axis=1)
    else:
        differing = np.asarray(left != right).reshape(-1)
    return int(np.count_nonzero(differing))


def _max_ulps(left: np.ndarray, right: np.ndarray) -> int:
    """Largest distance in ULPs; unsigned wrap-around keeps the full 64-bit range exact."""
    low, high = np.minimum(left, right), np.maximum(left, right)
    with np.errstate(over="ignore"):
        return int(np.max(high.view(np.uint64) - low.view(np.uint64)))
