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
    left, right = _as_host(a), _as_host(b)
    if left is None or right is None or left.shape != right.shape:
        return None
    if left.size == 0:
        return Difference(0.0, 0.0, 0, 0.0)
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
    return Difference(json_float(float(np.max(delta))),
                      json_float(float(np.max(rel))), ulps, _fraction_differing(left, right))


def _fraction_differing(left: np.ndarray, right: np.ndarray) -> float:
    """Share of elements that are not bit-identical (equal values of other dtypes count equal)."""
    if left.dtype == right.dtype and left.dtype.kind in "fc":
        width = left.dtype.itemsize
        a = np.ascontiguousarray(left).reshape(-1).view(np.uint8).reshape(-1, width)
        b = np.ascontiguousarray(right).reshape(-1).view(np.uint8).reshape(-1, width)
        differing = (a != b).any(axis=1)
    else:
        differing = np.asarray(left != right).reshape(-1)
    return float(np.count_nonzero(differing)) / left.size


def _max_ulps(left: np.ndarray, right: np.ndarray) -> int:
    """Largest distance in ULPs; unsigned wrap-around keeps the full 64-bit range exact."""
    low, high = np.minimum(left, right), np.maximum(left, right)
    with np.errstate(over="ignore"):
        return int(np.max(high.view(np.uint64) - low.view(np.uint64)))
