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
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from types import FunctionType, ModuleType
from typing import Any

import numpy as np

from nbgrad.backend import is_cupy_array
from nbgrad.namespace.patch import patched
from nbgrad.namespace.snapshot import HEAP_TYPE
from nbgrad.namespace.usercode import Site, user_modules, user_site

#: Functions that return memory without writing it.
ALLOCATORS = ("empty", "empty_like")

#: Rerun poisons, in order of preference (0xFF makes every float NaN); see :func:`observed`.
OBSERVED_POISONS = (0xFF, 0x5A, 0xC3, 0x3C)


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
    #: Bytes that whole fresh allocations of an unpoisoned run already held (recycled
    #: from an earlier poisoned run): a rerun poisoned with one of them would agree
    #: with run 0 by construction.
    leftovers: set[int] = field(default_factory=set)

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


def leftover_poison(array: Any, candidates: tuple[int, ...]) -> int | None:
    """The byte a fresh host array is entirely filled with, if it is one of ``candidates``."""
    if is_cupy_array(array) or array.dtype.hasobject or not array.nbytes:
        return None
    raw = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    first = int(raw[0])
    if first not in candidates or not (raw[:4096] == first).all():
        return None
    return first if bool((raw == first).all()) else None


def _wrap(module: ModuleType, name: str, pattern: int | None, registry: AllocationRegistry,
          cell_filename: str | None) -> Callable[..., Any]:
    original = getattr(module, name)
    call = f"{module.__name__}.{name}"

    @functools.wraps(original)
    def allocate(*args: Any, **kwargs: Any) -> Any:
        array = original(*args, **kwargs)
        if pattern is None:  # the plain run: only look at what the allocator handed out
            leftover = leftover_poison(array, OBSERVED_POISONS)
            if leftover is not None:
                registry.leftovers.add(leftover)
            return array
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


@contextmanager
def observed(namespace: dict[str, Any], registry: AllocationRegistry) -> Iterator[None]:
    """Within the block, note fresh numpy allocations that hold a whole poison byte already.

    numpy recycles buffers freed by an earlier check's poisoned reruns into
    the next plain run 0; the values are left untouched (run 0 stays plain).
    """
    with _wrapped_allocators([np], None, namespace, registry, None):
        yield


@contextmanager
def _wrapped_allocators(modules: list[ModuleType], pattern: int | None,
                        namespace: dict[str, Any], registry: AllocationRegistry,
                        cell_filename: str | None) -> Iterator[None]:
    """Replace the modules' allocators (and their aliases in ``namespace``) by wrappers.

    On the way out the allocators are put back, also where the cell bound a
    wrapper itself: ``from numpy import empty`` inside the cell binds the
    wrapper installed at that moment; left there, it would outlive the check.
    """
    scopes = [namespace, *(m.__dict__ for m in user_modules() if m.__dict__ is not namespace)]
    try:
        with ExitStack() as stack:
            for module in modules:
                for name in ALLOCATORS:
                    original = getattr(module, name)
                    wrapper = _wrap(module, name, pattern, registry, cell_filename)
                    stack.enter_context(patched(module, **{name: wrapper}))
                    for owner, keys in _holders(scopes, original):
                        stack.enter_context(patched(owner, **dict.fromkeys(keys, wrapper)))
                    for function in _defaults_holding(scopes, original):
                        defaults = tuple(wrapper if d is original else d
                                         for d in function.__defaults__)
                        stack.enter_context(patched(function, __defaults__=defaults))
            yield
    finally:
        for scope in scopes:
            for key, value in list(scope.items()):
                original = getattr(value, "__nbgrad_original__", None)
                if original is not None:
                    scope[key] = original


def _holders(scopes: list[dict[str, Any]], original: Any) -> Iterator[tuple[Any, list[str]]]:
    """Where the user's code can reach ``original`` by name: the cell's and the user's
    modules' globals (``from numpy import empty``), dicts in them (``ALLOC = {"buf":
    np.empty}``) and the attributes of the user's classes (``class Net: alloc = np.empty``).
    """
    for scope in scopes:
        yield scope, [key for key, value in scope.items() if value is original]
        for value in list(scope.values()):
            if isinstance(value, dict) and value is not scope:
                keys = [k for k, item in value.items() if item is original and isinstance(k, str)]
                if keys:
                    yield value, keys
            elif isinstance(value, type) and value.__flags__ & HEAP_TYPE:
                keys = [k for k, item in vars(value).items() if item is original]
                if keys:
                    yield value, keys


def _defaults_holding(scopes: list[dict[str, Any]], original: Any) -> list[Any]:
    """The user's functions with ``original`` as a default (``def buf(n, alloc=np.empty)``)."""
    return [value for scope in scopes for value in list(scope.values())
            if isinstance(value, FunctionType) and value.__defaults__
            and any(d is original for d in value.__defaults__)]


def _array_modules() -> list[ModuleType]:
    modules = [np]
    if "cupy" in sys.modules:
        modules.append(sys.modules["cupy"])
    return modules


@contextmanager
def poisoned(pattern: int, namespace: dict[str, Any], registry: AllocationRegistry,
             cell_filename: str | None) -> Iterator[None]:
    """Within the block, fresh allocations are filled with ``pattern`` and registered."""
    cupy = sys.modules.get("cupy")
    with _wrapped_allocators(_array_modules(), pattern, namespace, registry, cell_filename), \
            ExitStack() as allocator:
        if cupy is not None:
            _install_poisoning_allocator(cupy, pattern, allocator)
        yield


def _install_poisoning_allocator(cupy: ModuleType, pattern: int,
                                 restore: ExitStack) -> None:
    """Wrap CuPy's allocator in use so that it poisons each block; ``restore`` puts it back.

    The global allocator is replaced, unless the user is inside
    ``cupy.cuda.using_allocator``: there the thread-local allocator is the one
    in use and ``set_allocator`` raises ``ValueError``, so the wrapper goes on
    top of it thread-locally instead (and the global one is never touched).
    """
    previous = cupy.cuda.get_allocator()
    poisoning = _poisoning_allocator(previous, pattern)
    try:
        cupy.cuda.set_allocator(poisoning)
    except ValueError:
        restore.enter_context(cupy.cuda.using_allocator(poisoning))
    else:
        restore.callback(cupy.cuda.set_allocator, previous)
