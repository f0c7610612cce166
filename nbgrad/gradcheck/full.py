"""Full mode: every real coordinate differenced, suspicious ones confirmed before they are flagged.

Three passes per part, each one only over what the previous left in doubt:

1. **Central differences** for every coordinate at ``h = ε^(1/3)·max(|θ|, 1)``
   (2 evaluations each).  On a well-conditioned cost this alone reaches a
   relative error of about ``ε^(2/3)`` (≈ 4e-11 in float64).
2. **Richardson extrapolation** for coordinates whose error is above that
   accuracy goal (or above 1/1000 of the tolerance, if that is looser; see
   :func:`accuracy_goal`): central differences at the larger steps ``ε^(1/5)·s`` and
   half of it, extrapolated to O(h⁴) (4 more evaluations).  Costs whose value
   is large next to their gradient (a cross-entropy of 2 with derivatives of
   1e-3) are rounding-limited at the small step; the larger extrapolated step
   removes that limit, which is how a correct float64 network reaches ~1e-10.
3. **Small-step confirmation** for coordinates still above the tolerance:
   central and one-sided differences at ``h/16`` (2 more evaluations).  If
   the forward and backward slopes still disagree as much as at ``h``, the
   point sits on a kink (ReLU, ``abs``, ``max``); when the analytic value lies
   between the two slopes it is a valid subgradient and the coordinate is
   marked ``kink`` rather than flagged.

   A parameter smaller than 1/16 whose estimates at ``h`` and ``h/16`` disagree
   with each other is differenced once more at its own scale, ``ε^(1/3)·|θ|``
   (pass 3b), since the cost may bend on that scale.  Where a low-precision
   cost's rounding scatters the estimates around the analytic value and the
   best one misses by at most :data:`MARGINAL` tolerances, the coordinate is
   *unresolved*, not flagged.

A coordinate is flagged only when none of the estimates agrees with the
analytic derivative within the tolerance: the estimate closest to the analytic
value is kept, because a correct gradient needs one accurate estimate to
agree with it, while a wrong one disagrees with all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nbgrad.backend import array_module, to_numpy
from nbgrad.gradcheck.checks import PartCheck
from nbgrad.gradcheck.compare import relative_error, resolution_floor
from nbgrad.gradcheck.evaluate import CostCalls
from nbgrad.gradcheck.numeric import Differences, differences, richardson
from nbgrad.gradcheck.params import Part
from nbgrad.gradcheck.steps import (
    CENTRAL_EXPONENT,
    DOMAIN_SHRINK,
    RICHARDSON_EXPONENT,
    ROUNDING_ULPS,
    domain_shrink,
    nominal,
)

#: Pass 3 shrinks the step by this factor: a smooth jump |forward − backward| shrinks with it.
SMALL_STEP_DIVISOR = 16.0

#: An element whose best estimate misses by at most this many tolerances, while rounding
#: scatters its estimates around the analytic value, is unresolved rather than wrong; a
#: larger miss (a factor of 2, a flipped sign) is flagged however rough the cost.
MARGINAL = 2.0


def accuracy_goal(eps: float, tol: float) -> float:
    """Primary estimates worse than this are extrapolated (pass 2).

    A central difference reaches about ``ε^(2/3)`` on a well-conditioned cost;
    anything above ten times that is rounding- or truncation-limited.  But an
    estimate only needs to be about 1000 times finer than the tolerance it is
    judged by, so a loose ``rtol`` spares the extra evaluations.
    """
    return max(10.0 * eps ** (2 / 3), 1e-3 * tol)


def check_part(
    part: Part, analytic: np.ndarray, f0: float, cost: CostCalls, eps: float, tol: float
) -> PartCheck:
    """Numeric derivative of every coordinate of ``part``, compared with ``analytic``."""
    check = PartCheck.unchecked(part, analytic)
    check_coordinates(check, np.arange(part.size), part.flat_copy(), f0, cost, eps, tol)
    return check


def check_coordinates(
    check: PartCheck,
    indices: np.ndarray,
    theta: Any,
    f0: float,
    cost: CostCalls,
    eps: float,
    tol: float,
) -> None:
    """Run the three passes on ``indices`` of ``check.part`` and record the outcome in ``check``."""
    xp = array_module(theta)
    step = nominal(theta[xp.asarray(indices)], eps, CENTRAL_EXPONENT)
    first = differences(check.part, indices, theta, step, f0, cost)
    check.floor[indices] = resolution_floor(eps, first.cost_size, first.step, tol)
    rounding = check.floor[indices] * tol  # the derivative's rounding error at this step
    check.moved[indices] = np.maximum(np.abs(first.forward), np.abs(first.backward)) > rounding
    check.numeric[indices] = first.numeric
    check.step[indices] = first.step
    check.rel_error[indices] = relative_error(
        check.analytic[indices], first.numeric, check.floor[indices]
    )
    scatter = Scatter(first.numeric)
    refine = check.rel_error[indices] > accuracy_goal(eps, tol)
    extrapolated = _extrapolate(check, theta, f0, cost, eps, indices[refine])
    if extrapolated is not None:
        scatter.add(refine, extrapolated[0])
    doubtful = check.rel_error[indices] > tol
    own_scale = None
    if doubtful.any():
        own_scale = _settle(check, theta, f0, cost, eps, tol, first, doubtful, scatter)
    wrong = (check.rel_error[indices] > tol) & ~check.kink[indices]
    check.flagged[indices] = wrong & ~check.unresolved[indices]
    suspicious = indices[refine]
    if extrapolated is not None:
        _show_most_accurate(check, suspicious, *extrapolated)
    if own_scale is not None:  # for a tiny parameter its own-scale estimate is the accurate one
        _show_most_accurate(check, own_scale.indices, own_scale.numeric, own_scale.step)


class Scatter:
    """The range of the central-difference estimates of each coordinate (smooth ones only).

    Central differences at ``h`` and ``h/16`` and the extrapolated value are all
    accurate where the cost is computed precisely (their spread is ~ε^(2/3)).
    A float16 cost rounds by many ulps, and then they scatter by more than the
    tolerance: an analytic value inside that scatter cannot be called wrong.
    """

    def __init__(self, numeric: np.ndarray) -> None:
        self.low = numeric.copy()
        self.high = numeric.copy()

    def add(self, where: np.ndarray, values: np.ndarray) -> None:
        self.low[where] = np.minimum(self.low[where], values)
        self.high[where] = np.maximum(self.high[where], values)

    def hides(
        self, where: np.ndarray, analytic: np.ndarray, rounding: np.ndarray, tol: float
    ) -> np.ndarray:
        """The estimates disagree among themselves, by rounding, around the analytic value."""
        low, high = self.low[where], self.high[where]
        margin = tol * np.maximum(np.abs(low), np.abs(high))
        spread = high - low
        inside = (analytic >= low - margin) & (analytic <= high + margin)
        return (spread > margin) & (spread <= rounding) & inside


def _settle(
    check: PartCheck,
    theta: Any,
    f0: float,
    cost: CostCalls,
    eps: float,
    tol: float,
    first: Differences,
    doubtful: np.ndarray,
    scatter: Scatter,
) -> Differences | None:
    """Passes 3 and 3b on the doubtful coordinates; mark those rounding leaves unresolved.

    Returns pass 3b's differences (None when no coordinate needed it).
    """
    small = _confirm_small_step(check, theta, f0, cost, eps, tol, first, doubtful)
    scatter.add(doubtful, small.numeric)
    own_scale = _retry_relative(check, theta, f0, cost, eps, tol, first.numeric[doubtful], small)
    indices = small.indices
    rounding = ROUNDING_ULPS * eps * small.cost_size / small.step
    marginal = check.rel_error[indices] <= MARGINAL * tol
    check.unresolved[indices] = marginal & scatter.hides(
        doubtful, check.analytic[indices], rounding, tol
    )
    return own_scale


def _retry_relative(
    check: PartCheck,
    theta: Any,
    f0: float,
    cost: CostCalls,
    eps: float,
    tol: float,
    at_first_step: np.ndarray,
    small: Differences,
) -> Differences | None:
    """Pass 3b: a tiny parameter whose estimates did not settle, differenced at ``ε^(1/3)·|θ|``.

    Steps are scaled by ``max(|θ|, 1)``: right for a weight of 1e-3 in a
    network whose activations bend on the scale of 1, wrong for a parameter of
    1e-8 on which the cost itself bends (a physical constant, a length scale).
    There the estimates at ``h`` and ``h/16`` disagree with each other, not only
    with the analytic value; one more central difference at the parameter's own
    scale settles which, before anything is blamed on the gradient.
    """
    xp = array_module(theta)
    values = to_numpy(theta[xp.asarray(small.indices)]).astype(np.float64)
    apart = np.abs(small.numeric - at_first_step)
    unsettled = apart > tol * np.maximum(np.abs(small.numeric), np.abs(at_first_step))
    tiny = (np.abs(values) < 1 / DOMAIN_SHRINK) & (values != 0)
    chosen = small.indices[unsettled & tiny]
    if not chosen.size:
        return None
    cost.expect(2 * chosen.size)
    point = theta[xp.asarray(chosen)]
    step = domain_shrink(point, nominal(point, eps, CENTRAL_EXPONENT), first=True)
    own_scale = differences(check.part, chosen, theta, step, f0, cost)
    keep_better(check, chosen, own_scale.numeric, own_scale.step)
    return own_scale


def keep_better(
    check: PartCheck, indices: np.ndarray, numeric: np.ndarray, step: np.ndarray
) -> None:
    """Take ``numeric`` at ``indices`` wherever it agrees better with the analytic value."""
    candidate = relative_error(check.analytic[indices], numeric, check.floor[indices])
    better = candidate < check.rel_error[indices]
    chosen = indices[better]
    check.numeric[chosen] = numeric[better]
    check.step[chosen] = step[better]
    check.rel_error[chosen] = candidate[better]


def _extrapolate(
    check: PartCheck, theta: Any, f0: float, cost: CostCalls, eps: float, indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Pass 2; returns the extrapolated values and their steps (None when nothing was refined)."""
    if not indices.size:
        return None
    cost.expect(4 * indices.size)
    xp = array_module(theta)
    coarse_step = nominal(theta[xp.asarray(indices)], eps, RICHARDSON_EXPONENT)
    coarse = differences(check.part, indices, theta, coarse_step, f0, cost)
    # Half of the step really taken: a coarse step shrunk at the domain's edge stays paired.
    fine = differences(check.part, indices, theta, xp.asarray(coarse.step / 2), f0, cost)
    extrapolated = richardson(coarse, fine)
    keep_better(check, indices, extrapolated, fine.step)
    keep_better(check, indices, fine.numeric, fine.step)
    return extrapolated, fine.step


def _show_most_accurate(
    check: PartCheck, indices: np.ndarray, values: np.ndarray, step: np.ndarray
) -> None:
    """A flagged element reports its extrapolated estimate, the most accurate on smooth costs.

    (The estimate closest to the analytic value decides *whether* to flag; once
    flagged, the report should show the best value of the true derivative.)
    """
    flagged = check.flagged[indices]
    chosen = indices[flagged]
    check.numeric[chosen] = values[flagged]
    check.step[chosen] = step[flagged]
    check.rel_error[chosen] = relative_error(
        check.analytic[chosen], values[flagged], check.floor[chosen]
    )


def _confirm_small_step(
    check: PartCheck,
    theta: Any,
    f0: float,
    cost: CostCalls,
    eps: float,
    tol: float,
    first: Differences,
    doubtful: np.ndarray,
) -> Differences:
    """Pass 3 at the coordinates ``first.indices[doubtful]``; returns its differences."""
    indices = first.indices[doubtful]
    cost.expect(2 * indices.size)
    xp = array_module(theta)
    step = nominal(theta[xp.asarray(indices)], eps, CENTRAL_EXPONENT) / SMALL_STEP_DIVISOR
    small = differences(check.part, indices, theta, step, f0, cost)
    keep_better(check, indices, small.numeric, small.step)
    check.kink[indices] = _on_kink(small, first.jump[doubtful], check.analytic[indices], eps, tol)
    return small


def _on_kink(
    small: Differences, first_jump: np.ndarray, analytic: np.ndarray, eps: float, tol: float
) -> np.ndarray:
    """One-sided slopes that keep disagreeing as the step shrinks, the analytic value between."""
    jump = small.jump
    rounding = 4.0 * eps * small.cost_size / small.step
    slopes = np.maximum(np.abs(small.forward), np.abs(small.backward))
    persists = (jump > 0.5 * first_jump) & (jump > rounding) & (jump > tol * slopes)
    low = np.minimum(small.forward, small.backward)
    high = np.maximum(small.forward, small.backward)
    margin = tol * slopes + rounding
    return persists & (analytic >= low - margin) & (analytic <= high + margin)
