"""Which array library an array belongs to: numpy on the host, CuPy on a GPU.

CuPy is optional.  nbgrad never imports it unless it is installed *and* the
user's objects already contain CuPy arrays (or a caller asks for it), so a
machine without a GPU pays nothing and never sees a CUDA error.
"""

from __future__ import annotations

import sys
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np


@cache
def cupy_module() -> ModuleType | None:
    """Return the ``cupy`` module when it imports and sees a CUDA device, else ``None``."""
    try:
        import cupy
    except Exception:  # ImportError, or a broken CUDA install raising at import
        return None
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:
        return None
    return cupy


def is_cupy_array(x: Any) -> bool:
    """True for a ``cupy.ndarray`` without importing CuPy when the user has not."""
    cupy = sys.modules.get("cupy")
    return cupy is not None and isinstance(x, cupy.ndarray)


def is_array(x: Any) -> bool:
    """True for numpy and CuPy arrays (not for scalars, lists or numpy scalars)."""
    return isinstance(x, np.ndarray) or is_cupy_array(x)


def array_module(x: Any) -> ModuleType:
    """The module (``numpy`` or ``cupy``) whose functions operate on ``x``."""
    if is_cupy_array(x):
        return sys.modules["cupy"]
    return np


def device_name(x: Any) -> str:
    """``"cpu"`` for host arrays, ``"cuda:N"`` for CuPy arrays."""
    if is_cupy_array(x):
        return f"cuda:{x.device.id}"
    return "cpu"


def to_numpy(x: Any) -> np.ndarray:
    """Copy to the host when needed; numpy arrays are returned as they are."""
    if is_cupy_array(x):
        return x.get()
    return np.asarray(x)
