"""The parameters as named blocks of real coordinates, perturbed in place and restored bit for bit.

Why in place: a hand-written network often does not read its weights from the
argument it is given.  Seed 001's cost reads ``self.AB`` through an object, a
closure may hold ``W``, and seed 003 slices one unrolled vector.  So nbgrad
never builds perturbed copies: it writes ``θ_i ± h`` into the user's own
memory, calls ``fun(params)`` with the very object it was given, and writes the
original value back.

Layout.  Whatever the user passes (one array, a dict or list/tuple of arrays,
or one flat vector cut into named pieces by ``blocks=``) becomes a list of
:class:`Block`: a name for the report, a display shape, and a writable *view*
that reaches the user's memory.  The numerics never see complex numbers: each
block exposes one or two :class:`Part` objects, real-valued writable views
(``z.real`` and ``z.imag`` for a complex block), and every derivative is taken
along one real coordinate of one part.  The gradient of a real cost with
respect to a complex ``z`` is therefore ``dC/dRe z + i·dC/dIm z``.

Input that cannot be perturbed meaningfully is refused with the culprit named:
non-arrays, integer arrays, read-only arrays, and NaN/infinite values (a
derivative at a NaN point means nothing).  Non-contiguous views are fine: every
write goes through the view into the user's memory.

Restoration never subtracts a step back (``θ + h − h`` need not equal ``θ``):
:func:`preserved` copies every view before the check and assigns the copies
back in a ``finally`` clause, so exceptions, NaN costs and KeyboardInterrupt
all leave the parameters exactly as they were.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbgrad.backend import array_module, device_name, is_array
from nbgrad.errors import ParameterError, UsageError


@dataclass(frozen=True)
class Part:
    """One real-valued, writable view of a block: the whole block, or its real/imaginary part."""

    block: Block
    component: str  # "" for real blocks, "real" or "imag" for complex ones
    view: Any

    @property
    def size(self) -> int:
        return self.block.size

    def index(self, i: int) -> tuple[int, ...]:
        """The view's multi-index of flat (C-order) coordinate ``i``."""
        return tuple(int(k) for k in np.unravel_index(i, self.view.shape))

    def flat_copy(self) -> Any:
        """A contiguous 1-D copy of the coordinates, on the part's device."""
        return self.view.flatten()

    def set(self, i: int, value: Any) -> None:
        self.view[self.index(i)] = value

    def assign(self, flat_values: Any) -> None:
        self.view[...] = flat_values.reshape(self.view.shape)

    def assign_range(self, start: int, stop: int, values: Any, everything: Any) -> None:
        """Write coordinates ``start:stop``; other coordinates are taken from ``everything``.

        1-D and C-contiguous views are written in place over just the range
        (O(range)); other layouts are rewritten whole from ``everything``
        with the range replaced.
        """
        view = self.view
        if view.ndim == 1:
            view[start:stop] = values
        elif view.flags.c_contiguous:
            view.reshape(-1)[start:stop] = values
        else:
            merged = everything.copy()
            merged[start:stop] = values
            self.assign(merged)


@dataclass(eq=False)
class Block:
    """A named parameter block, seen through a view that writes into the user's memory."""

    name: str
    shape: tuple[int, ...]
    view: Any
    parts: list[Part] = field(default_factory=list)
    #: A piece of a flat vector (``blocks=``): the order it is unrolled in, "C" or "F";
    #: None for an array of its own, whose layout is its shape.
    order: str | None = None

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.view.dtype)

    @property
    def is_complex(self) -> bool:
        return self.dtype.kind == "c"

    @property
    def xp(self) -> Any:
        return array_module(self.view)

    @property
    def device(self) -> str:
        return device_name(self.view)

    def multi_index(self, i: int) -> list[int]:
        """Flat index -> index in the block's display shape (``blocks=`` shapes included)."""
        return [int(k) for k in np.unravel_index(i, self.shape, order=self.order or "C")]

    def label(self, i: int) -> str:
        """``Theta2[1, 0]``: how a message names element ``i``."""
        if not self.shape:
            return self.name
        return f"{self.name}[{', '.join(map(str, self.multi_index(i)))}]"


@dataclass(eq=False)
class ParamSet:
    """The user's parameter object, its structure, and its blocks in the user's order."""

    params: Any
    structure: str  # "array" | "dict" | "list" | "tuple" | "flat"
    blocks: list[Block]
    keys: list[Any]


def describe(structure: str, key: Any) -> str:
    """How the user wrote the parameter: ``params['W']``, ``params[0]``, ``params``."""
    if structure == "dict":
        return f"params[{key!r}]"
    if structure in ("list", "tuple"):
        return f"params[{key}]"
    return "params"


def _check_array(value: Any, where: str, suggestion: str) -> None:
    if not is_array(value):
        raise ParameterError(
            f"{where} is {type(value).__name__}; gradcheck needs floating-point arrays "
            f"(numpy or CuPy) that it can perturb in place — use "
            f"np.asarray({suggestion}, dtype=np.float64) and pass that array"
        )
    kind = np.dtype(value.dtype).kind
    if kind not in "fc":
        raise ParameterError(
            f"{where} is {value.dtype}; gradcheck needs floating-point arrays — "
            f"use {suggestion}.astype(np.float64)"
        )
    if value.size == 0:
        raise ParameterError(
            f"{where} is empty (shape {tuple(value.shape)}): there is nothing to check — "
            f"drop {suggestion} from the parameters, or check it once it has elements"
        )
    flags = getattr(value, "flags", None)
    if flags is not None and hasattr(flags, "writeable") and not flags.writeable:
        raise ParameterError(
            f"{where} is read-only; gradcheck perturbs parameters in place — pass a writable "
            f"array ({suggestion}.copy(), or set {suggestion}.flags.writeable = True)"
        )


def _check_finite(value: Any, where: str) -> None:
    """A derivative at a NaN or infinite point means nothing: say where the first one is."""
    xp = array_module(value)
    finite = xp.isfinite(value)
    if bool(finite.all()):
        return
    first = np.unravel_index(int(xp.argmin(finite.reshape(-1).astype(np.int8))), value.shape)
    position = f"[{', '.join(map(str, first))}]" if value.shape else ""
    raise ParameterError(
        f"{where}{position} is {value[first]}; gradcheck needs finite parameter values "
        "(did an earlier training step diverge?)"
    )


def _with_parts(block: Block) -> Block:
    if isinstance(block.view, np.matrix):  # an ndarray view of the same memory: 2-D indexing
        block.view = np.asarray(block.view)
    if block.is_complex:
        block.parts = [Part(block, "real", block.view.real), Part(block, "imag", block.view.imag)]
    else:
        block.parts = [Part(block, "", block.view)]
    return block


def _entries(params: Any) -> tuple[str, list[tuple[Any, Any]]]:
    if is_array(params):
        return "array", [(None, params)]
    if isinstance(params, Mapping):
        return "dict", list(params.items())
    if isinstance(params, list | tuple):
        return type(params).__name__, list(enumerate(params))
    raise ParameterError(
        f"params is {type(params).__name__}; gradcheck needs one floating-point array, "
        "a dict of arrays, or a list/tuple of arrays"
    )


def _display_names(structure: str, keys: list[Any], names: Sequence[str] | str | None) -> list[str]:
    if names is None:
        if structure == "dict":
            return [str(key) for key in keys]
        if structure == "array":
            return ["params"]
        return [f"params[{key}]" for key in keys]
    names = [names] if isinstance(names, str) else list(names)
    if len(names) != len(keys):
        raise UsageError(
            f"names= gives {len(names)} names ({', '.join(names)}) but params has "
            f"{len(keys)} arrays; give one name per array"
        )
    return [str(name) for name in names]


def collect(
    params: Any,
    blocks: Mapping[str, Sequence[int]] | None = None,
    names: Sequence[str] | str | None = None,
    order: str = "C",
) -> ParamSet:
    """Validate ``params`` and cut it into blocks; errors name the culprit."""
    structure, entries = _entries(params)
    if not entries:
        raise ParameterError(f"params is an empty {structure}; give at least one array to check")
    for key, value in entries:
        where = describe(structure, key)
        suggestion = str(key) if structure == "dict" else where
        _check_array(value, where, suggestion)
        _check_finite(value, where)
    if blocks is not None:
        if structure != "array":
            raise UsageError(
                f"blocks= names pieces of one flat parameter vector, but params is a {structure}; "
                "pass the flat array, or drop blocks="
            )
        if order not in ("C", "F"):
            raise UsageError(
                f"order={order!r}; expected 'C' (row by row, numpy's ravel) or 'F' (column by "
                "column, Octave's Theta(:))"
            )
        return ParamSet(params, "flat", _flat_blocks(params, blocks, order), list(blocks))
    keys = [key for key, _ in entries]
    display = _display_names(structure, keys, names)
    _refuse_shared_memory(display, [value for _, value in entries])
    made = [
        _with_parts(Block(name, tuple(int(n) for n in value.shape), value))
        for name, (_, value) in zip(display, entries, strict=True)
    ]
    return ParamSet(params, structure, made, keys)


def _refuse_shared_memory(names: list[str], arrays: list[Any]) -> None:
    """Two parameters that share memory move together, so their differences would add up.

    Perturbing ``params[0]`` would also move ``params[1]`` (the same array
    passed twice, or two overlapping views of one buffer), and every shared
    element would be reported as a factor-2 "scale" bug that is not the
    user's.  Refuse instead, naming both.
    """
    for first in range(len(arrays)):
        for second in range(first + 1, len(arrays)):
            a, b = arrays[first], arrays[second]
            if _shares_memory(a, b):
                same = "the same array" if a is b else "views into one buffer that overlap"
                raise ParameterError(
                    f"{names[first]} and {names[second]} are {same}; "
                    "perturbing one would move the other, so every shared element would be "
                    "differenced twice — pass each parameter once (for pieces of one flat "
                    "vector, pass the vector with blocks=)"
                )


def _shares_memory(a: Any, b: Any) -> bool:
    xp = array_module(a)
    if xp is not array_module(b):
        return False
    shares = getattr(xp, "shares_memory", None) or getattr(xp, "may_share_memory", None)
    return bool(shares(a, b)) if shares is not None else a is b


def _flat_blocks(flat: Any, blocks: Mapping[str, Sequence[int]], order: str) -> list[Block]:
    if not isinstance(blocks, Mapping) or not blocks:
        raise UsageError(
            f"blocks={blocks!r}; expected a non-empty dict of names to shapes in C order, "
            'e.g. {"Theta1": (5, 4), "Theta2": (3, 6)}'
        )
    shapes = {str(name): _shape(name, shape) for name, shape in blocks.items()}
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    total = sum(sizes.values())
    if total != flat.size:
        listed = ", ".join(f"{name} {shapes[name]} = {sizes[name]}" for name in shapes)
        raise UsageError(
            f"blocks= describes {total} elements ({listed}) but params has {flat.size}; "
            "the block sizes must add up to the length of the flat vector"
        )
    line = flat if flat.ndim == 1 else _flat_view(flat)
    made, offset = [], 0
    for name, shape in shapes.items():
        view = line[offset : offset + sizes[name]]
        made.append(_with_parts(Block(name, shape, view, order=order)))
        offset += sizes[name]
    return made


def _shape(name: Any, shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    try:
        dims = tuple(int(n) for n in shape)
    except (TypeError, ValueError):
        dims = (-1,)
    if any(n < 1 for n in dims):
        raise UsageError(
            f"blocks[{name!r}] = {shape!r}; expected a shape of positive sizes such as (5, 4)"
        )
    return dims


def _flat_view(array: Any) -> Any:
    flags = array.flags
    if not flags.c_contiguous:
        raise ParameterError(
            "params is a multi-dimensional array that is not C-contiguous (Fortran order or a "
            "strided view), so blocks= cannot view it as one flat vector in C order in place; "
            "pass a C-contiguous array (np.ascontiguousarray), or the 1-D vector itself"
        )
    return array.reshape(-1)


class Snapshot:
    """Copies of every block, to restore them and to tell whether ``fun`` changed them."""

    def __init__(self, paramset: ParamSet) -> None:
        self.blocks = paramset.blocks
        self.saved = [block.view.copy() for block in self.blocks]

    def restore(self) -> None:
        for block, copy in zip(reversed(self.blocks), reversed(self.saved), strict=True):
            block.view[...] = copy

    def changed(self) -> list[str]:
        """Names of the blocks whose values differ from the copies (NaN equals NaN)."""
        return [
            block.name
            for block, copy in zip(self.blocks, self.saved, strict=True)
            if not bool(block.xp.array_equal(block.view, copy, equal_nan=True))
        ]


#: Arrays being perturbed by a check now, with the thread that checks them.
_IN_USE: list[tuple[str, Any, int]] = []
_IN_USE_LOCK = threading.Lock()


@contextlib.contextmanager
def claimed(paramset: ParamSet) -> Iterator[None]:
    """Refuse a check whose arrays share memory with those another thread is checking now.

    Two checks perturbing the same memory would each difference the other's
    steps and restore each other's perturbed values (an array left shifted by
    one step); one waits for nothing and is told why instead.
    """
    me = threading.get_ident()
    views = [(block.name, block.view) for block in paramset.blocks]
    with _IN_USE_LOCK:
        for name, view in views:
            for other, used, owner in _IN_USE:
                if owner != me and _shares_memory(view, used):
                    raise UsageError(
                        f"{name} shares memory with {other}, which another gradcheck (thread "
                        f"{owner}) is perturbing right now; two checks of the same array would "
                        "move it under each other — run them one after the other"
                    )
        entries = [(name, view, me) for name, view in views]
        _IN_USE.extend(entries)
    try:
        yield
    finally:
        with _IN_USE_LOCK:
            _IN_USE[:] = [entry for entry in _IN_USE if not any(entry is e for e in entries)]


@contextlib.contextmanager
def preserved(paramset: ParamSet) -> Iterator[Snapshot]:
    """Copy every block now and assign the copies back on exit, whatever happens in between."""
    with claimed(paramset):
        snapshot = Snapshot(paramset)
        try:
            yield snapshot
        finally:
            snapshot.restore()
