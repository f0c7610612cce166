"""The user's analytic gradient, checked against the parameters' structure and cut into blocks.

The gradient mirrors ``params``: one array of the same shape, a dict with the
same keys, a list/tuple of the same length, or, with ``blocks=``, one flat
vector as long as the flat parameter vector.  Anything else raises
:class:`~nbgrad.errors.GradientError` naming the block and the expected versus
the received shape, because "operands could not be broadcast" three frames
deep in nbgrad would not tell the user which of their arrays is wrong.

For complex parameters the gradient of the real cost is expected as
``dC/dRe z + i·dC/dIm z`` (numpy's and most hand-written code's convention for
real costs; conjugate it if yours differs).  The gradient is copied to the host
once, in bulk: the comparison and the diagnosis run on numpy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nbgrad.backend import is_array, to_numpy
from nbgrad.errors import GradientError
from nbgrad.gradcheck.params import ParamSet, describe


def block_gradients(grad: Any, paramset: ParamSet) -> list[np.ndarray]:
    """One host array per block, in the block's shape, float64 or complex128."""
    pieces = _block_pieces(grad, paramset)
    for block, piece in zip(paramset.blocks, pieces, strict=True):
        _refuse_imaginary(block, piece)
    return [
        piece if block.is_complex else np.ascontiguousarray(piece.real, dtype=np.float64)
        for block, piece in zip(paramset.blocks, pieces, strict=True)
    ]


def _refuse_imaginary(block: Any, piece: np.ndarray) -> None:
    """A real cost of real parameters has a real gradient: an imaginary part is a bug."""
    if block.is_complex or piece.dtype.kind != "c":
        return
    imaginary = np.abs(piece.imag)
    if not np.any(imaginary):
        return
    worst = int(np.argmax(imaginary.reshape(-1)))
    raise GradientError(
        f"the gradient of {block.name} has an imaginary part of up to "
        f"{float(imaginary.max()):.3g} (at {block.label(worst)}) for real parameters: a real "
        "cost of real parameters has a real gradient — a complex intermediate (np.fft, "
        "np.sqrt of a negative, a 1j) leaks into the backward pass; nbgrad does not drop it"
    )


def _block_pieces(grad: Any, paramset: ParamSet) -> list[np.ndarray]:
    structure = paramset.structure
    if structure == "flat":
        flat = _array(grad, "the gradient", _flat_shape(paramset))
        pieces, offset = [], 0
        for block in paramset.blocks:
            pieces.append(flat.reshape(-1)[offset : offset + block.size].reshape(block.shape))
            offset += block.size
        return pieces
    if structure == "array":
        block = paramset.blocks[0]
        return [_array(grad, "the gradient", block.shape)]
    return [
        _array(item, f"the gradient of {describe(structure, key)} ({block.name})", block.shape)
        for block, key, item in zip(
            paramset.blocks, paramset.keys, _items(grad, paramset), strict=True
        )
    ]


def _items(grad: Any, paramset: ParamSet) -> list[Any]:
    keys = paramset.keys
    if paramset.structure == "dict":
        if not isinstance(grad, Mapping):
            raise GradientError(
                f"the gradient is {type(grad).__name__}; params is a dict, so the gradient must "
                f"be a dict with the same keys ({', '.join(map(repr, keys))})"
                + _unrolled_hint(grad, paramset)
            )
        missing = [key for key in keys if key not in grad]
        if missing:
            raise GradientError(
                f"the gradient has no entry for {', '.join(map(repr, missing))}; expected the "
                f"keys of params: {', '.join(map(repr, keys))}"
            )
        return [grad[key] for key in keys]
    if isinstance(grad, list | tuple) and len(grad) > len(keys):
        # (cost, *grads, state): the gradients first, then outputs that are no gradient
        first = list(grad[: len(keys)])
        shapes = [tuple(getattr(item, "shape", ())) for item in first]
        if shapes == [block.shape for block in paramset.blocks]:
            return first
    if not isinstance(grad, list | tuple) or len(grad) != len(keys):
        got = (
            f"a {type(grad).__name__} of length {len(grad)}"
            if isinstance(grad, list | tuple)
            else type(grad).__name__
        )
        raise GradientError(
            f"the gradient is {got}; params is a {paramset.structure} of {len(keys)} arrays, "
            f"so the gradient must be a list/tuple of {len(keys)} arrays in the same order"
        )
    return list(grad)


def _unrolled_hint(grad: Any, paramset: ParamSet) -> str:
    """A flat gradient as long as all of params: say how to give it back its structure."""
    total = sum(block.size for block in paramset.blocks)
    if not is_array(grad) or grad.size != total:
        return ""
    pieces = ", ".join(f"{block.name} {block.size}" for block in paramset.blocks)
    return (
        f". It has {total} elements, as many as all of params together ({pieces}): if it is "
        "the unrolled gradient, cut it into a dict in params' order, or pass params as one "
        "flat vector with blocks="
    )


def _flat_shape(paramset: ParamSet) -> tuple[int, ...]:
    return tuple(int(n) for n in getattr(paramset.params, "shape", ()))


def _array(value: Any, what: str, shape: tuple[int, ...]) -> np.ndarray:
    if not (is_array(value) or isinstance(value, np.generic | float | int)):
        raise GradientError(f"{what} is {type(value).__name__}; expected an array of shape {shape}")
    host = to_numpy(value)
    if tuple(host.shape) != tuple(shape):
        raise GradientError(f"{what} has shape {tuple(host.shape)}; expected shape {shape}")
    if host.dtype.kind not in "fciub":
        raise GradientError(f"{what} has dtype {host.dtype}; expected numbers")
    wide = np.complex128 if host.dtype.kind == "c" else np.float64
    return host.astype(wide)


def part_gradient(gradient: np.ndarray, component: str) -> np.ndarray:
    """The flat real coordinates of one part: the real or the imaginary part of the gradient."""
    flat = gradient.reshape(-1)
    return np.ascontiguousarray(flat.imag if component == "imag" else flat.real, dtype=np.float64)
