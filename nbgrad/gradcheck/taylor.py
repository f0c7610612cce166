"""The Taylor test: a per-block verdict on the gradient that needs no tolerance.

Along a random direction ``d`` the Taylor remainder

    R(h) = |C(θ + h·d) − C(θ) − h·gᵀd|

falls like ``h²`` when ``g`` is the gradient and like ``h`` when it is not
(then ``R ≈ h·|(∇C − g)ᵀd|``).  Halving ``h`` therefore divides ``R`` by 4 for
a right gradient and by 2 for a wrong one, and the observed orders
``log₂(R(h)/R(h/2))`` say which — whatever the size of the cost, of the
gradient, or of the error, so no tolerance is involved.  :data:`STEPS` steps
``h₀, h₀/2, …`` cost one evaluation each.  Remainders within
:data:`SIGNIFICANT` times the cost's rounding are rounding, not remainders:
they give no order, and a block left with fewer than two orders is
``rounding_limited``.  Kinks along ``d`` (ReLU, max) break the expansion: the
orders scatter and the verdict is ``inconclusive``.

The steps are real: ``θ + h·d`` is rounded to the parameters' dtype and
``gᵀδ`` uses the distance ``δ`` really moved.

References: P. E. Farrell, D. A. Ham, S. W. Funke, M. E. Rognes, "Automated
derivation of the adjoint of high-level transient finite element programs",
SIAM J. Sci. Comput. 35(4), 2013 (the Taylor remainder convergence test of
dolfin-adjoint / pyadjoint's ``taylor_test``).

>>> convergence_orders([4e-4, 1e-4, 2.5e-5], floor=1e-12)
[2.0, 2.0]
>>> verdict_of([2.0, 1.99, 2.01])
'second_order'
>>> verdict_of([1.02, 1.0, 1.0])
'first_order'
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbgrad.backend import array_module, to_numpy
from nbgrad.gradcheck.evaluate import CostCalls, Where
from nbgrad.gradcheck.fast import random_weights
from nbgrad.gradcheck.params import Block
from nbgrad.gradcheck.steps import FINE_PRECISION, element_scale
from nbgrad.report.base import json_float

#: Steps ``h₀·2⁻ᵏ``, k = 0 … STEPS − 1: one evaluation each, STEPS − 1 orders.
STEPS = 5
#: The first step is ``ε^START_EXPONENT`` of each element's scale ``max(|θ|, 1)`` (float64:
#: 7e-4); coarser costs (float32, float16, noisy) start at :data:`LOWEST_START`, so that
#: the smallest step's h² remainder stays above their rounding.
START_EXPONENT = 1 / 5
LOWEST_START = 0.25
#: One cost rounds by about this many ``ε·|C|`` (a forward pass sums many rounded terms).
ROUNDING = 8.0
#: A remainder must exceed that rounding this many times to give an order.
SIGNIFICANT = 10.0
#: The orders of the two smallest steps at least this: the remainder is quadratic (as h
#: shrinks the expansion only gets more accurate), the gradient right to first order.
SECOND_ORDER = 1.8
#: The orders of the two smallest steps at most this: the remainder is linear, the
#: gradient wrong along ``d``.
FIRST_ORDER = 1.25


def convergence_orders(remainders: list[float], floor: float) -> list[float | None]:
    """``log₂(R_k / R_{k+1})`` for consecutive steps; None where either is rounding-sized."""
    orders: list[float | None] = []
    for big, small in itertools.pairwise(remainders):
        usable = min(big, small) > SIGNIFICANT * floor and math.isfinite(big + small)
        orders.append(round(math.log2(big / small), 3) if usable else None)
    return orders


def verdict_of(orders: list[float | None]) -> str:
    """``second_order`` (right), ``first_order`` (wrong), ``rounding_limited``, ``inconclusive``."""
    known = [order for order in orders if order is not None]
    if len(known) < 2:
        return "rounding_limited"
    if min(known[-2:]) >= SECOND_ORDER:
        return "second_order"
    if max(known[-2:]) <= FIRST_ORDER and min(known[-2:]) >= 2 - SECOND_ORDER:
        return "first_order"
    return "inconclusive"


def _message(name: str, verdict: str, orders: list[float | None], finite: bool) -> str:
    if not finite:
        return f"{name}: Taylor test not possible: the analytic gradient is not finite"
    shown = ", ".join("—" if order is None else f"{order:.2f}" for order in orders)
    words = {
        "second_order": "the remainder falls like h²: right to first order",
        "first_order": "the remainder falls like h, not h²: the gradient is wrong along "
        "a random direction",
        "rounding_limited": "the remainders are within the cost's rounding: no order to read",
        "inconclusive": "neither h² nor h (a kink along the direction, or an error small "
        "next to the curvature)",
    }[verdict]
    return f"{name}: Taylor test orders {shown}: {words}"


@dataclass
class Probe:
    """Where the test starts: the base cost, the cost's precision, the random directions."""

    f0: float
    eps: float
    rng: np.random.Generator


def taylor_test(
    block: Block, analytic: list[np.ndarray], cost: CostCalls, probe: Probe
) -> dict[str, Any]:
    """The block's ``taylor`` entry: steps, remainders, orders, verdict and its sentence."""
    f0, eps, rng = probe.f0, probe.eps, probe.rng
    thetas = [part.flat_copy() for part in block.parts]
    directions = [_direction(theta, rng) for theta in thetas]
    start = eps**START_EXPONENT if eps <= FINE_PRECISION else LOWEST_START
    steps = [start / 2**k for k in range(STEPS)]
    cost.expect(STEPS)
    remainders, linear, size = [], [], abs(f0)
    for h in steps:
        value, predicted = _along(block, thetas, directions, h, analytic, cost)
        size = max(size, abs(value))
        remainders.append(abs(value - f0 - predicted))
        linear.append(abs(predicted))
    floor = ROUNDING * eps * size
    orders = convergence_orders(remainders, floor)
    finite = all(math.isfinite(r) for r in remainders)
    verdict = verdict_of(orders) if finite else "inconclusive"
    return {
        "steps": steps,
        "remainders": [json_float(r) for r in remainders],
        "linear": [json_float(v) for v in linear],
        "orders": orders,
        "floor": json_float(floor),
        "verdict": verdict,
        "message": _message(block.name, verdict, orders, finite),
    }


def _direction(theta: Any, rng: np.random.Generator) -> Any:
    """Random signs times magnitudes in [0.5, 1.5], times each element's scale max(|θ|, 1)."""
    n = int(theta.size)
    weights = random_weights(rng, n)
    return array_module(theta).asarray(weights) * element_scale(theta) / math.sqrt(max(n, 1))


def _where(name: str) -> Where:
    return lambda: f"while all of {name} moved along a random direction (Taylor test)"


def _along(
    block: Block,
    thetas: list[Any],
    directions: list[Any],
    h: float,
    analytic: list[np.ndarray],
    cost: CostCalls,
) -> tuple[float, float]:
    """``C(θ + h·d)`` and ``gᵀδ`` for the step δ really taken; the block is reset after."""
    predicted = 0.0
    try:
        for part, theta, d, a in zip(block.parts, thetas, directions, analytic, strict=True):
            point = (theta.astype(np.float64) + h * d).astype(theta.dtype)
            moved = to_numpy(point.astype(np.float64) - theta.astype(np.float64))
            predicted += float(a @ moved)
            part.assign(point)
        value = cost(_where(block.name))
    finally:
        for part, theta in zip(block.parts, thetas, strict=True):
            part.assign(theta)
    return value, predicted
