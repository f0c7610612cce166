"""Poisoning: fill fresh, uninitialised allocations with a run-specific byte.

``np.empty`` often hands back recycled memory that happens to hold zeros, or
the same garbage in both runs, so running a cell twice rarely exposes a read
of uninitialised memory.  CuPy's memory pool makes it worse (and hides it
from compute-sanitizer).  During a poisoned run every such allocation is
filled with a known byte, different per run: if two runs then differ only
because their poison differs, the cell read memory it never wrote.

numpy: ``numpy.empty``/``empty_like`` (and the CuPy equivalents) are
wrapped on the module object, so every alias (``np``, ``numpy``, ``cp``
swapped for numpy, ``from numpy import empty``) sees the wrapper.  CuPy: an
allocator installed with ``cupy.cuda.set_allocator`` memsets every block the
pool hands out, which also covers allocations CuPy makes internally.  The
wrappers also remember which user line allocated each array, for the report.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from nbgrad.backend import is_cupy_array
from nbgrad.determinism.usercode import Site, user_site

#: Functions that return memory without writing it.
ALLOCATORS = ("empty", "empty_like")


@dataclass(frozen=True)
class Allocation:
    """Where a poisoned array came from: the user's line and the function called."""

    site: Site | None
    call: str
    pattern: int


@dataclass
class AllocationRegistry:
    """Arrays handed out by the wrapped allocators in one run, by identity."""

    entries: dict[int, tuple[weakref.ref, Allocation]] = field(default_factory=dict)

    def add(self, array: Any, allocation: Allocation) -> None:
        try:
            ref = weakref.ref(array)
        except TypeError:
            return
        self.entries[id(array)] = (ref, allocation)

    def find(self, array: Any) -> Allocation | None:
        """The allocation ``array`` (or the array it is a view of) came from."""
        while array is not None:
            entry = self.entries.get(id(array))
            if entry is not None and entry[0]() is array:
                return entry[1]
            array = getattr(array, "base", None)
        return None


def fill(array: Any, pattern: int) -> None:
    """Overwrite every byte of a freshly allocated contiguous array with ``pattern``."""
    if is_cupy_array(array):
        if array.nbytes:
            array.data.memset_async(pattern, array.nbytes)
    elif not array.dtype.hasobject and array.nbytes:
        ctypes.memset(array.ctypes.data, pattern, array.nbytes)


def _wrap(module: ModuleType, name: str, pattern: int, registry: AllocationRegistry,
          cell_filename: str | None) -> Callable[..., Any]:
    original = getattr(module, name)
    call = f"{module.__name__}.{name}"

    @functools.wraps(original)
    def allocate(*args: Any, **kwargs: Any) -> Any:
        array = original(*args, **kwargs)
        fill(array, pattern)
        registry.add(array, Allocation(user_site(cell_filename), call, pattern))
        return array

    allocate.__nbgrad_original__ = original  # type: ignore[attr-defined]
    return allocate


def _poisoning_allocator(previous: Callable[[int], Any], pattern: int) -> Callable[[int], Any]:
    def allocate(size: int) -> Any:
        memory = previous(size)
        if size:
            memory.memset_async(pattern, size)
        return memory

    return allocate


def _array_modules() -> list[ModuleType]:
    modules = [np]
    if "cupy" in sys.modules:
        modules.append(sys.modules["cupy"])
    return modules


@contextmanager
def poisoned(pattern: int, namespace: dict[str, Any], registry: AllocationRegistry,
             cell_filename: str | None) -> Iterator[None]:
    """Within the block, fresh allocations are filled with ``pattern`` and registered."""
    patched: list[tuple[Any, str, Any]] = []
    cupy = sys.modules.get("cupy")
    previous_allocator = cupy.cuda.memory.get_allocator() if cupy is not None else None
    try:
        for module in _array_modules():
            for name in ALLOCATORS:
                original = getattr(module, name)
                wrapper = _wrap(module, name, pattern, registry, cell_filename)
                patched.append((module, name, original))
                setattr(module, name, wrapper)
                for key, value in list(namespace.items()):
                    if value is original:
                        patched.append((namespace, key, original))
                        namespace[key] = wrapper
        if cupy is not None:
            cupy.cuda.set_allocator(_poisoning_allocator(previous_allocator, pattern))
        yield
    finally:
        if cupy is not None:
            cupy.cuda.set_allocator(previous_allocator)
        for owner, name, original in reversed(patched):
            if not isinstance(owner, dict):
                setattr(owner, name, original)
            elif hasattr(owner.get(name), "__nbgrad_original__"):
                owner[name] = original  # unless the cell rebound the name itself
