"""Finite differences along single real coordinates, evaluated in the user's own memory.

:func:`differences` is the one loop that moves a coordinate: for each index it
writes ``θ_i + h₊``, calls the cost, writes ``θ_i − h₋``, calls the cost, and
writes the saved ``θ_i`` back (a copy of the original value, never ``θ + h − h``).
On CuPy the perturbed values and the original live on the device; each write
is a device-to-device scalar copy and the only thing that crosses to the host
per evaluation is the scalar cost.

From the two costs and the base cost ``f0`` it keeps three estimates: the
central difference (the derivative), and the forward and backward one-sided
differences, whose disagreement reveals a kink (ReLU, ``abs``, ``max``) at the
point.  :func:`richardson` combines two central differences at ``h`` and
``h/2`` into an O(h⁴) estimate, and :func:`step_curve` scans the step size for
one element to draw the classic V: truncation error on the right, rounding
error on the left.

References: L. F. Richardson, "The deferred approach to the limit", Phil. Trans.
R. Soc. A 226 (1927); the ε^(1/3) balance of a central difference — Nocedal &
Wright, *Numerical Optimization* (2006), §8.1.

>>> h = np.array([0.1]); coarse = Differences(h, np.array([1.01]), h, h, h, h)
>>> fine = Differences(h, np.array([1.0025]), h, h, h / 2, h)
>>> richardson(coarse, fine)  # D(h) = 1 + h², D(h/2) = 1 + h²/4: extrapolated to 1
array([1.])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nbgrad.backend import array_module
from nbgrad.gradcheck.evaluate import CostCalls, Where
from nbgrad.gradcheck.params import Part
from nbgrad.gradcheck.steps import Steps, representable

#: A step whose cost is NaN or infinite left the cost's domain (``log`` or ``sqrt`` of a
#: small positive θ): it is retried smaller (:func:`~nbgrad.gradcheck.steps.domain_shrink`)
#: at most this many times before the non-finite cost is reported as the user's.
DOMAIN_TRIES = 6


@dataclass
class Differences:
    """Costs and derivative estimates at a set of coordinates of one part (host float64)."""

    indices: np.ndarray
    numeric: np.ndarray
    forward: np.ndarray
    backward: np.ndarray
    step: np.ndarray
    cost_size: np.ndarray

    @property
    def jump(self) -> np.ndarray:
        """``|forward − backward|``: O(h) on smooth costs, O(1) across a kink."""
        return np.abs(self.forward - self.backward)


def coordinate_name(part: Part, i: int) -> str:
    """``Theta2[1, 0]``, or ``z[3].imag`` for the imaginary part of a complex element."""
    label = part.block.label(i)
    return f"{label}.{part.component}" if part.component else label


def perturbation(part: Part, i: int, step: float) -> Where:
    """Error context: which element was moved, and by how much."""
    return lambda: f"while {coordinate_name(part, i)} was perturbed by {step:+.3g}"


def differences(
    part: Part, indices: np.ndarray, theta: Any, nominal: Any, f0: float, cost: CostCalls
) -> Differences:
    """Central and one-sided differences at ``indices`` with nominal steps ``nominal`` (device)."""
    base = theta[array_module(theta).asarray(indices)]
    steps = representable(base, nominal)
    f_plus = np.empty(indices.size)
    f_minus = np.empty(indices.size)
    for k, i in enumerate(indices.tolist()):
        for attempt in range(DOMAIN_TRIES + 1):
            finite = attempt == DOMAIN_TRIES  # the last, smallest step raises on NaN
            f_plus[k], f_minus[k] = _pair(part, i, k, steps, base[k], cost, finite)
            if np.isfinite(f_plus[k]) and np.isfinite(f_minus[k]):
                break
            steps.shrink(k, base, first=attempt == 0)
    return Differences(
        indices=indices,
        numeric=(f_plus - f_minus) / steps.width,
        forward=(f_plus - f0) / steps.h_plus,
        backward=(f0 - f_minus) / steps.h_minus,
        step=steps.h,
        cost_size=np.maximum(abs(f0), np.maximum(np.abs(f_plus), np.abs(f_minus))),
    )


def _pair(
    part: Part, i: int, k: int, steps: Steps, original: Any, cost: CostCalls, finite: bool
) -> tuple[float, float]:
    """``f(θ + h₊)`` and ``f(θ − h₋)`` at coordinate ``i``; ``θ_i`` is put back whatever happens."""
    try:
        part.set(i, steps.plus[k])
        f_plus = cost(perturbation(part, i, float(steps.h_plus[k])), finite)
        part.set(i, steps.minus[k])
        f_minus = cost(perturbation(part, i, -float(steps.h_minus[k])), finite)
    finally:
        part.set(i, original)
    return f_plus, f_minus


def richardson(coarse: Differences, fine: Differences) -> np.ndarray:
    """Extrapolate central differences at ``h`` and about ``h/2`` to O(h⁴) accuracy.

    The ratio of the exact steps is used rather than exactly 2, since the
    representable steps differ slightly from the nominal ones.
    """
    ratio2 = (coarse.step / fine.step) ** 2
    return (ratio2 * fine.numeric - coarse.numeric) / (ratio2 - 1)


@dataclass
class StepCurve:
    """Numeric derivative of one element for a range of step sizes."""

    steps: list[float]
    numeric: list[float]


def step_curve(
    part: Part, i: int, theta: Any, f0: float, cost: CostCalls, steps: np.ndarray
) -> StepCurve:
    """Central differences of coordinate ``i`` at every nominal step in ``steps`` (2 calls each)."""
    indices = np.full(steps.size, i)
    nominal = array_module(theta).asarray(steps)
    estimates = differences(part, indices, theta, nominal, f0, cost)
    return StepCurve(steps=estimates.step.tolist(), numeric=estimates.numeric.tolist())
