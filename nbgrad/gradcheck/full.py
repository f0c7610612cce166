"""Full mode: every real coordinate differenced, suspicious ones confirmed before they are flagged.

Three passes per part, each one only over what the previous left in doubt:

0. **Curvature probes** (:func:`calibrate`): :data:`PROBES` coordinates with
   the largest analytic derivatives are differenced at the Richardson pair of
   steps; the change between the two estimates measures the third derivative
   ``K``, and the block's :class:`~nbgrad.gradcheck.steps.StepPolicy` sets the
   central step ``(3·ε·|C|/K)^(1/3)·s`` that balances the cost's rounding
   against truncation (the step no longer ignores the size of the cost).
1. **Central differences** for every coordinate at that step (2 evaluations
   each) — on most elements the only estimate.
2. **Richardson extrapolation**, a second estimate only where the first is
   ambiguous: coordinates whose error is above the policy's accuracy goal
   (1/100 of the tolerance, or ``10·ε^(2/3)`` if coarser): central differences
   at ``ε^(1/5)·s`` and half of it, extrapolated to O(h⁴) (4 more evaluations).
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

References: Richardson extrapolation and the step optimum — Nocedal & Wright,
*Numerical Optimization* (2006), §8.1; kinks and one-sided differences —
Griewank & Walther, *Evaluating Derivatives* (2008), ch. 14.

>>> Point(theta=np.zeros(3), f0=0.0, cost=None).theta.size
3
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nbgrad.backend import array_module, to_numpy
from nbgrad.gradcheck.checks import PartCheck
from nbgrad.gradcheck.compare import relative_error, resolution_floor
from nbgrad.gradcheck.evaluate import CostCalls
from nbgrad.gradcheck.numeric import Differences, differences, richardson
from nbgrad.gradcheck.params import Part
from nbgrad.gradcheck.steps import (
    DOMAIN_SHRINK,
    FINE_PRECISION,
    ROUNDING_ULPS,
    StepPolicy,
    element_scale,
)

#: An element whose best estimate misses by at most this many tolerances, while rounding
#: scatters its estimates around the analytic value, is unresolved rather than wrong; a
#: larger miss (a factor of 2, a flipped sign) is flagged however rough the cost.
MARGINAL = 2.0

#: Coordinates probed for the third derivative that sets the central step.
PROBES = 3


@dataclass
class Point:
    """Where a part is differenced: its coordinates (a flat device copy), the base cost, calls."""

    theta: Any
    f0: float
    cost: CostCalls


def check_part(part: Part, analytic: np.ndarray, policy: StepPolicy, point: Point) -> PartCheck:
    """Numeric derivative of every coordinate of ``part``, compared with ``analytic``."""
    check = PartCheck.unchecked(part, analytic)
    point = Point(part.flat_copy(), point.f0, point.cost)
    policy = calibrate(check, point, policy)
    check_coordinates(check, np.arange(part.size), point, policy)
    return check


def calibrate(check: PartCheck, point: Point, policy: StepPolicy) -> StepPolicy:
    """The policy with the third derivative measured at :data:`PROBES` coordinates (4 calls each).

    ``D(H) − D(H/2) = H²·f‴/8`` for central differences ``D`` at the
    Richardson steps; the largest ``|f‴|·s³`` over the probes (the
    coordinates with the largest analytic derivatives, where truncation
    matters most) sets the central step.  A block too small to need it, or a
    cost too coarse to measure it, keeps the uncalibrated step.
    """
    if check.part.size <= 2 * PROBES or policy.cost_size == 0 or policy.eps > FINE_PRECISION:
        return policy
    probes = np.sort(np.argsort(-np.abs(check.analytic))[:PROBES])
    xp = array_module(point.theta)
    base = point.theta[xp.asarray(probes)]
    point.cost.expect(4 * PROBES)
    coarse = differences(check.part, probes, point.theta, policy.coarse(base), point.f0,
                         point.cost)
    fine = differences(check.part, probes, point.theta, xp.asarray(coarse.step / 2), point.f0,
                       point.cost)
    scale = element_scale(to_numpy(base))
    third = 8 * np.abs(coarse.numeric - fine.numeric) / coarse.step**2 * scale**3
    finite = third[np.isfinite(third)]
    return policy.calibrated(float(finite.max())) if finite.size else policy


def check_coordinates(
    check: PartCheck, indices: np.ndarray, point: Point, policy: StepPolicy
) -> None:
    """Run the passes on ``indices`` of ``check.part`` and record the outcome in ``check``."""
    Passes(check, point, policy).run(indices)


class Passes:
    """The passes over some coordinates of one part, all asking one :class:`StepPolicy`."""

    def __init__(self, check: PartCheck, point: Point, policy: StepPolicy) -> None:
        self.check, self.point, self.policy = check, point, policy
        self.xp = array_module(point.theta)

    def differences(self, indices: np.ndarray, steps: Any) -> Differences:
        point = self.point
        return differences(self.check.part, indices, point.theta, steps, point.f0, point.cost)

    def values(self, indices: np.ndarray) -> Any:
        return self.point.theta[self.xp.asarray(indices)]

    def run(self, indices: np.ndarray) -> None:
        """Pass 1 everywhere, pass 2 where ambiguous, pass 3 where still doubtful."""
        check, policy = self.check, self.policy
        tol = policy.tol
        first = self.differences(indices, policy.central(self.values(indices)))
        check.floor[indices] = resolution_floor(policy.eps, first.cost_size, first.step, tol)
        rounding = check.floor[indices] * tol  # the derivative's rounding error at this step
        check.moved[indices] = np.maximum(np.abs(first.forward), np.abs(first.backward)) > rounding
        check.numeric[indices] = first.numeric
        check.step[indices] = first.step
        check.rel_error[indices] = relative_error(
            check.analytic[indices], first.numeric, check.floor[indices]
        )
        scatter = Scatter(first.numeric, tol)
        refine = check.rel_error[indices] > policy.goal
        extrapolated = self.extrapolate(indices[refine])
        if extrapolated is not None:
            scatter.add(refine, extrapolated[0])
        doubtful = check.rel_error[indices] > tol
        own_scale = self.settle(first, doubtful, scatter) if doubtful.any() else None
        wrong = (check.rel_error[indices] > tol) & ~check.kink[indices]
        check.flagged[indices] = wrong & ~check.unresolved[indices]
        if extrapolated is not None:
            _show_most_accurate(check, indices[refine], *extrapolated)
        if own_scale is not None:  # for a tiny parameter its own-scale estimate is the accurate one
            _show_most_accurate(check, own_scale.indices, own_scale.numeric, own_scale.step)

    def extrapolate(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Pass 2; the extrapolated values and their steps (None when nothing was refined)."""
        if not indices.size:
            return None
        self.point.cost.expect(4 * indices.size)
        coarse = self.differences(indices, self.policy.coarse(self.values(indices)))
        # Half of the step really taken: a coarse step shrunk at the domain's edge stays paired.
        fine = self.differences(indices, self.xp.asarray(coarse.step / 2))
        extrapolated = richardson(coarse, fine)
        keep_better(self.check, indices, extrapolated, fine.step)
        keep_better(self.check, indices, fine.numeric, fine.step)
        return extrapolated, fine.step

    def settle(
        self, first: Differences, doubtful: np.ndarray, scatter: Scatter
    ) -> Differences | None:
        """Passes 3 and 3b on the doubtful coordinates; mark those rounding leaves unresolved.

        Returns pass 3b's differences (None when no coordinate needed it).
        """
        check, policy = self.check, self.policy
        small = self.confirm_small_step(first, doubtful)
        scatter.add(doubtful, small.numeric)
        own_scale = self.retry_relative(first.numeric[doubtful], small)
        indices = small.indices
        rounding = ROUNDING_ULPS * policy.eps * small.cost_size / small.step
        marginal = check.rel_error[indices] <= MARGINAL * policy.tol
        check.unresolved[indices] = marginal & scatter.hides(
            doubtful, check.analytic[indices], rounding
        )
        return own_scale

    def confirm_small_step(self, first: Differences, doubtful: np.ndarray) -> Differences:
        """Pass 3 at the coordinates ``first.indices[doubtful]``; returns its differences."""
        check = self.check
        indices = first.indices[doubtful]
        self.point.cost.expect(2 * indices.size)
        small = self.differences(indices, self.policy.small(self.values(indices)))
        keep_better(check, indices, small.numeric, small.step)
        # At a point where the cost is smooth on each side only (ReLU² at 0: C¹, not C²) the
        # central difference errs by O(h), not O(h²): extrapolated linearly to h = 0 it lands
        # on the derivative; a wrong gradient stays as far from it as before.
        ratio = first.step[doubtful] / small.step
        linear = small.numeric + (small.numeric - first.numeric[doubtful]) / (ratio - 1)
        keep_better(check, indices, linear, small.step)
        check.kink[indices] = _on_kink(small, first.jump[doubtful], check.analytic[indices],
                                       self.policy)
        return small

    def retry_relative(self, at_first_step: np.ndarray, small: Differences) -> Differences | None:
        """Pass 3b: a tiny parameter whose estimates did not settle, differenced at its own scale.

        Steps are scaled by ``max(|θ|, 1)``: right for a weight of 1e-3 in a
        network whose activations bend on the scale of 1, wrong for a parameter of
        1e-8 on which the cost itself bends (a physical constant, a length scale).
        There the estimates at ``h`` and ``h/16`` disagree with each other, not only
        with the analytic value; one more central difference at the parameter's own
        scale settles which, before anything is blamed on the gradient.
        """
        values = to_numpy(self.values(small.indices)).astype(np.float64)
        apart = np.abs(small.numeric - at_first_step)
        larger = np.maximum(np.abs(small.numeric), np.abs(at_first_step))
        unsettled = apart > self.policy.tol * larger
        tiny = (np.abs(values) < 1 / DOMAIN_SHRINK) & (values != 0)
        chosen = small.indices[unsettled & tiny]
        if not chosen.size:
            return None
        self.point.cost.expect(2 * chosen.size)
        own_scale = self.differences(chosen, self.policy.own_scale(self.values(chosen)))
        keep_better(self.check, chosen, own_scale.numeric, own_scale.step)
        return own_scale


class Scatter:
    """The range of the central-difference estimates of each coordinate (smooth ones only).

    Central differences at ``h`` and ``h/16`` and the extrapolated value are all
    accurate where the cost is computed precisely (their spread is ~ε^(2/3)).
    A float16 cost rounds by many ulps, and then they scatter by more than the
    tolerance: an analytic value inside that scatter cannot be called wrong.
    """

    def __init__(self, numeric: np.ndarray, tol: float) -> None:
        self.low = numeric.copy()
        self.high = numeric.copy()
        self.tol = tol

    def add(self, where: np.ndarray, values: np.ndarray) -> None:
        self.low[where] = np.minimum(self.low[where], values)
        self.high[where] = np.maximum(self.high[where], values)

    def hides(self, where: np.ndarray, analytic: np.ndarray, rounding: np.ndarray) -> np.ndarray:
        """The estimates disagree among themselves, by rounding, around the analytic value."""
        low, high = self.low[where], self.high[where]
        margin = self.tol * np.maximum(np.abs(low), np.abs(high))
        spread = high - low
        inside = (analytic >= low - margin) & (analytic <= high + margin)
        return (spread > margin) & (spread <= rounding) & inside


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


def _on_kink(
    small: Differences, first_jump: np.ndarray, analytic: np.ndarray, policy: StepPolicy
) -> np.ndarray:
    """One-sided slopes that keep disagreeing as the step shrinks, the analytic value between."""
    jump = small.jump
    rounding = 4.0 * policy.eps * small.cost_size / small.step
    slopes = np.maximum(np.abs(small.forward), np.abs(small.backward))
    persists = (jump > 0.5 * first_jump) & (jump > rounding) & (jump > policy.tol * slopes)
    low = np.minimum(small.forward, small.backward)
    high = np.maximum(small.forward, small.backward)
    margin = policy.tol * slopes + rounding
    return persists & (analytic >= low - margin) & (analytic <= high + margin)
