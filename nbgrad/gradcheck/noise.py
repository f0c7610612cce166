"""The cost's own noise floor, measured by evaluating it again at the unperturbed point.

A finite difference subtracts two costs, so any non-reproducibility of the cost
(atomics in a GPU reduction, multithreaded BLAS picking a different summation
order, dropout left on) shows up divided by the step.  Checkers that assume a
deterministic cost then report "mismatches" that are only noise — seed 003's
answer blames exactly this.  nbgrad measures instead: :data:`REPEATS` more
evaluations at the base point, and the largest deviation from the first one is
the noise floor.  A deterministic cost reproduces its bits and the floor is 0.

A noisy cost is then treated as a cost of lower precision (see
:func:`nbgrad.gradcheck.steps.precision`): steps and tolerance widen, the
report gets the ``noisy`` diagnosis and a finding that says so.  Beyond
:data:`TOO_NOISY` the widened tolerance would accept almost anything, so the
check fails instead of passing a gradient it cannot vouch for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nbgrad.gradcheck.evaluate import CostCalls

#: Extra evaluations at the base point.  Three repeats see a jitter that shows up
#: in half the calls with probability 7/8, enough for the verdict to widen steps.
REPEATS = 3

#: Above this relative noise (noise / |cost|) no finite difference can vouch for a
#: gradient: the tolerance would exceed about 6 %, so the check fails and says why.
TOO_NOISY = 1e-3


@dataclass(frozen=True)
class Noise:
    """Measured noise: the floor (largest absolute deviation), and how it was measured."""

    floor: float
    repeats: int
    relative: float = 0.0  # floor / |cost|; infinite when the cost is 0 and still jitters

    @property
    def noisy(self) -> bool:
        return self.floor > 0

    @property
    def too_noisy(self) -> bool:
        return self.relative > TOO_NOISY

    def to_dict(self) -> dict[str, object]:
        """The report's ``noise``; ``relative`` and ``too_noisy`` are nbgrad additions."""
        relative = self.relative if math.isfinite(self.relative) else None
        return {
            "floor": self.floor,
            "noisy": self.noisy,
            "repeats": self.repeats,
            "relative": relative,
            "too_noisy": self.too_noisy,
        }


def measure(cost: CostCalls, f0: float, repeats: int = REPEATS) -> Noise:
    """Evaluate the cost ``repeats`` more times at the base point and keep the largest deviation."""
    deviations = [abs(cost() - f0) for _ in range(repeats)]
    floor = max(deviations, default=0.0)
    relative = floor / abs(f0) if f0 else (float("inf") if floor else 0.0)
    return Noise(floor=floor, repeats=repeats, relative=relative)
