"""Step sizes and tolerances, chosen per dtype, per element and from the cost's own precision.

The error of a central difference ``(f(θ+h) − f(θ−h)) / 2h`` has two parts:
truncation, about ``h²·|f'''|/6``, and rounding, about ``ε·|f|/h`` where ``ε``
is the relative precision of the computed cost.  With ``f'''`` unknown the
textbook balance point is ``h ≈ ε^(1/3)·s``, where ``s = max(|θ_i|, 1)`` is the
element's scale: large parameters get proportionally large steps, small ones
do not get steps below the scale on which a network's activations bend.  The
precision ``ε`` is the dtype's machine epsilon, widened to the measured noise
of the cost (``noise / |cost|``, see :mod:`nbgrad.gradcheck.noise`): a noisy
cost behaves like one computed in lower precision, so it gets larger steps and
a wider tolerance instead of false mismatches.

Steps are made exactly representable, ``h = (θ + h) − θ``, so that the
denominator is the distance the parameter really moved.

Tolerances follow the same precision: ``tol = ε^(2/5)`` (5.6e-7 for float64,
1.7e-3 for float32, 6.3e-2 for float16).  That sits between what a correct
gradient reaches after confirmation (about ``ε^(2/3)``) and the size of a real
bug, which is rarely smaller than a percent.  float16 is never evaluated in
higher precision (the user's ``fun`` decides how the cost is computed); its
tolerance is wide because its costs carry three significant digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nbgrad.backend import array_module, to_numpy

#: A float16/float32 forward pass sums many rounded terms, so its cost is off by far more
#: than one ``ε·|C|``: disagreements up to this many times that may be rounding alone.
ROUNDING_ULPS = 100.0

#: Below this magnitude a parameter is stepped as if it were 1.0 (the scale ``s``).
TYPICAL_SCALE = 1.0

#: Costs at least this precise (float64, not noisy) are "fine": full mode calibrates their
#: central step with curvature probes and the Taylor test starts them at ε^(1/5); coarser
#: costs (float32, float16, noisy) keep the plain steps, their rounding swamping the probes.
FINE_PRECISION = 1e-12

#: Step exponents: central differences use ε^(1/3); the Richardson pair uses ε^(1/5),
#: the balance point of an error that is O(h⁴) after extrapolation.
CENTRAL_EXPONENT = 1 / 3
RICHARDSON_EXPONENT = 1 / 5


@dataclass(frozen=True)
class StepPolicy:
    """Every step size and accuracy threshold of one block, decided once, asked by every pass.

    Built by :meth:`for_block` from the parameters' dtype, the cost's dtype,
    the measured noise of the cost and the size of its value; full mode then
    :meth:`calibrated` it with a few curvature probes.  The central step of
    element ``i`` balances rounding against truncation,

        h_i = s_i · (3·ε·|C| / K)^(1/3),  s_i = max(|θ_i|, 1),

    where ``ε·|C|`` is the cost's absolute rounding and ``K`` the largest
    third derivative (in units of ``s³``) the probes measured: the textbook
    ``ε^(1/3)·s`` is this optimum only for ``|C| ≈ K``; a cross-entropy of 2 whose
    derivatives are 1e-3 is rounding-limited there.  Uncalibrated (``K`` None),
    the step is ``ε^(1/3)·s``.  Steps stay within ``[√ε, ε^(1/5)]·s``.

    References: the ε^(1/3) optimum of a central difference and Richardson
    extrapolation: Nocedal & Wright, *Numerical Optimization* (2006), §8.1;
    Press et al., *Numerical Recipes* (2007), §5.7.

    >>> policy = StepPolicy(eps=2.0**-52, tol=5.6e-7, cost_size=1.0, curvature=6.0)
    >>> float(policy.central(np.array([0.5]))[0])  # (3·ε/6)^(1/3) for a cost of size 1
    4.80...e-06
    """

    eps: float
    tol: float
    cost_size: float
    curvature: float | None = None

    @classmethod
    def for_block(cls, dtype: Any, cost_dtype: Any, noise_floor: float, f0: float) -> StepPolicy:
        """The uncalibrated policy: precision of the coarser dtype, widened to the noise."""
        coarser = max(np.dtype(dtype), np.dtype(cost_dtype), key=machine_epsilon)
        eps = precision(coarser, noise_floor, abs(f0))
        return cls(eps=eps, tol=tolerance(eps), cost_size=abs(f0))

    def calibrated(self, curvature: float) -> StepPolicy:
        return StepPolicy(self.eps, self.tol, self.cost_size, curvature)

    @property
    def relative_step(self) -> float:
        """``h / s`` of the central difference."""
        if self.curvature is None:
            return self.eps**CENTRAL_EXPONENT
        upper, lower = self.eps**RICHARDSON_EXPONENT, self.eps**0.5
        if self.curvature <= 0 or self.cost_size == 0:
            return upper
        optimum = (3 * self.eps * self.cost_size / self.curvature) ** (1 / 3)
        return float(min(max(optimum, lower), upper))

    def central(self, theta: Any) -> Any:
        """Pass 1: the central-difference step of each element of ``theta``."""
        return self.relative_step * element_scale(theta)

    def coarse(self, theta: Any) -> Any:
        """Pass 2 and the curvature probes: the larger step of the Richardson pair."""
        return self.eps**RICHARDSON_EXPONENT * element_scale(theta)

    def small(self, theta: Any) -> Any:
        """Pass 3: the confirmation step, :data:`SMALL_STEP_DIVISOR` times the central one."""
        return self.central(theta) / SMALL_STEP_DIVISOR

    def own_scale(self, theta: Any) -> Any:
        """Pass 3b: a step relative to the parameter's own size (a parameter of 1e-8)."""
        return domain_shrink(theta, self.eps**CENTRAL_EXPONENT * element_scale(theta), first=True)

    @property
    def goal(self) -> float:
        """Primary estimates worse than this get a second one (pass 2).

        A central difference reaches about ``ε^(2/3)``; an estimate needs to be
        only about 100 times finer than the tolerance it is judged by (5.6e-9 in
        float64), so a loose ``rtol`` spares the extra evaluations too.
        """
        return max(10.0 * self.eps ** (2 / 3), GOAL_FRACTION * self.tol)


#: Pass 3 shrinks the step by this factor: a smooth jump |forward − backward| shrinks with it.
SMALL_STEP_DIVISOR = 16.0

#: A second estimate is made where the first may be off by more than this share of the tol.
GOAL_FRACTION = 1e-2


def element_scale(theta: Any) -> Any:
    """Each element's scale ``s = max(|θ|, 1)``, in float64 on the device of ``theta``."""
    xp = array_module(theta)
    return xp.maximum(xp.abs(theta.astype(np.float64)), TYPICAL_SCALE)


def machine_epsilon(dtype: Any) -> float:
    """Relative precision of a (real or complex) floating dtype."""
    return float(np.finfo(np.dtype(dtype)).eps)


def precision(dtype: Any, noise_floor: float, cost_scale: float) -> float:
    """The cost's effective relative precision: machine epsilon, or its measured noise if larger."""
    eps = machine_epsilon(dtype)
    if noise_floor > 0 and cost_scale > 0:
        return max(eps, noise_floor / cost_scale)
    return eps


def tolerance(eps: float) -> float:
    """Relative-error threshold for a cost of relative precision ``eps``."""
    return float(eps**0.4)


@dataclass
class Steps:
    """Perturbed coordinate values (device, in the part's dtype) and the exact steps (host)."""

    plus: Any
    minus: Any
    h_plus: np.ndarray
    h_minus: np.ndarray

    @property
    def width(self) -> np.ndarray:
        """``h₊ + h₋``: the exact distance between the two evaluation points."""
        return self.h_plus + self.h_minus

    @property
    def h(self) -> np.ndarray:
        return 0.5 * self.width

    def shrink(self, k: int, theta: Any, first: bool) -> None:
        """Replace step ``k`` (at coordinate ``theta[k]``) after it left the cost's domain."""
        xp = array_module(theta)
        point = theta[k : k + 1]
        smaller = representable(point, domain_shrink(point, xp.asarray([float(self.h[k])]), first))
        self.plus[k], self.minus[k] = smaller.plus[0], smaller.minus[0]
        self.h_plus[k], self.h_minus[k] = smaller.h_plus[0], smaller.h_minus[0]


def nominal(theta: Any, eps: float, exponent: float) -> Any:
    """``ε^exponent · max(|θ|, 1)`` on the device of ``theta``, in float64 or wider."""
    return (eps**exponent) * element_scale(theta)


#: A step that left the cost's domain is retried at least this many times smaller.
DOMAIN_SHRINK = 16.0


def domain_shrink(theta: Any, h: Any, first: bool) -> Any:
    """The retry of a step ``h`` whose cost was NaN or infinite: it left the cost's domain.

    Steps are scaled by ``max(|θ|, 1)``, so a ``log`` or ``sqrt`` of a
    parameter of 0.01 is stepped across zero.  Such a parameter's own size is
    the scale on which its cost bends: the first retry makes the step relative
    to ``|θ|`` (``h·|θ|``, or at least :data:`DOMAIN_SHRINK` times smaller),
    later retries shrink it by :data:`DOMAIN_SHRINK` again.
    """
    if not first:
        return h / DOMAIN_SHRINK
    xp = array_module(theta)
    magnitude = xp.abs(theta.astype(np.float64))
    relative = xp.where(magnitude > 0, magnitude, TYPICAL_SCALE)
    return h * xp.minimum(relative, 1 / DOMAIN_SHRINK)


def representable(theta: Any, h: Any) -> Steps:
    """Round ``θ ± h`` to the parameter's dtype and measure how far each point really is."""
    plus = _moved((theta + h).astype(theta.dtype), theta, +1)
    minus = _moved((theta - h).astype(theta.dtype), theta, -1)
    h_plus = to_numpy(plus.astype(np.float64) - theta.astype(np.float64))
    h_minus = to_numpy(theta.astype(np.float64) - minus.astype(np.float64))
    return Steps(plus, minus, h_plus, h_minus)


def _moved(point: Any, theta: Any, direction: int) -> Any:
    """A step that rounds away entirely is replaced by one unit in the last place."""
    xp = array_module(theta)
    neighbour = xp.nextafter(theta, xp.asarray(direction * np.inf, dtype=theta.dtype))
    return xp.where(point == theta, neighbour, point)
