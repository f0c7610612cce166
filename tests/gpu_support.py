"""What the GPU tests share: the skip rule, CuPy, and a counter of device-to-host copies.

Imported only by ``tests/test_*_gpu.py``; without CuPy and a CUDA device the
importing module is skipped here, before anything touches CUDA.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from nbgrad.backend import cupy_module

cp: Any = cupy_module()
if cp is None:
    pytest.skip("needs CuPy and a CUDA device", allow_module_level=True)


@contextmanager
def host_copies() -> Iterator[list[int]]:
    """Count CuPy's device-to-host copies within the block (``counter[0]``).

    In CuPy (checked in its 14.2 source) every array copy to the host goes
    through ``ndarray.get`` — so do ``float(x)``, ``x.item()``, ``bool(x)``,
    ``tolist()``, ``cupy.asnumpy`` and ``repr``; only texture memory and raw
    ``MemoryPointer.copy_to_host`` calls do not — and ``get`` declares each
    copy to CuPy's synchronisation detector
    (``cupy._core.syncdetect._declare_synchronize``, the hook behind
    ``cupyx.allow_synchronize``), looked up on that module at every call.
    Wrapping it counts the copies without touching nbgrad or the user's code.
    ``Device.synchronize()`` declares itself there too, so the count is an
    upper bound on the copies.
    """
    from cupy._core import syncdetect

    original = syncdetect._declare_synchronize
    counter = [0]

    def counting() -> None:
        counter[0] += 1
        original()

    syncdetect._declare_synchronize = counting
    try:
        yield counter
    finally:
        syncdetect._declare_synchronize = original


def same_bits(a: Any, b: Any) -> bool:
    """Bit-for-bit equality of two device arrays, compared on the device."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool((a.reshape(-1).view(cp.uint8) == b.reshape(-1).view(cp.uint8)).all())
