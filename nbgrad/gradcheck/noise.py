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
check fails instead of passing a gradient it cannot vouch for.  A cost that
*changes* at the fixed point rather than jitters is a drift (``first_call``,
``trend``): no element verdict is possible, and the report says why.

References: estimating the noise of a computed function from repeated
evaluations — J. J. Moré and S. M. Wild, "Estimating computational noise",
SIAM J. Sci. Comput. 33(3), 2011.

>>> Noise(floor=1.0, repeats=3, values=(1.0, 2.0, 2.0, 2.0)).drift
'first_call'
>>> Noise(floor=1e-9, repeats=3, values=(1.0, 1.0 + 1e-9, 1.0, 1.0 - 1e-9)).drift is None
True
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from nbgrad.gradcheck.evaluate import CostCalls

#: Extra evaluations at the base point.  Three repeats see a jitter that shows up
#: in half the calls with probability 7/8, enough for the verdict to widen steps.
REPEATS = 3

#: Above this relative noise (noise / |cost|) no finite difference can vouch for a
#: gradient: the tolerance would exceed about 6 %, so the check fails and says why.
TOO_NOISY = 1e-3

#: Repeats added when the first ones run one way, to tell a drift from noise.
MORE_REPEATS = 2


@dataclass(frozen=True)
class Noise:
    """Measured noise: the floor (largest absolute deviation), and how it was measured.

    ``values`` are the costs at the base point, first call first.  ``drift`` names a
    cost that *changes* rather than jitters: ``"first_call"`` when every repeat
    agrees with the others bit for bit but not with the first call (the first
    call wrote into an array the cost reads), ``"trend"`` when the values move
    one way over all of them, :data:`MORE_REPEATS` more included (state carried from
    call to call; noise runs one way over 6 calls with probability 2/6! ≈ 0.3 %).
    """

    floor: float
    repeats: int
    relative: float = 0.0  # floor / |cost|; infinite when the cost is 0 and still jitters
    values: tuple[float, ...] = ()

    @property
    def drift(self) -> str | None:
        values = self.values
        if len(values) < 3 or self.floor == 0:
            return None
        if len(set(values[1:])) == 1:
            return "first_call"
        if len(values) > REPEATS + 1 and _one_way(values):
            return "trend"
        return None

    @property
    def drift_confidence(self) -> float:
        """``first_call``: 1 − 2^-(repeats − 1), the chance that equal repeats are no accident."""
        if self.drift == "first_call":
            return 1 - 2.0 ** -(self.repeats - 1)
        return 1 - 2 / math.factorial(len(self.values))  # chance that noise runs one way

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
            "drift": self.drift,
        }


def measure(cost: CostCalls, f0: float, repeats: int = REPEATS) -> Noise:
    """Evaluate the cost ``repeats`` more times at the base point and keep the largest deviation."""
    values = [f0, *(cost() for _ in range(repeats))]
    if values[-1] != f0 and _one_way(values):  # a trend, or noise that happened to run one way
        cost.expect(MORE_REPEATS)
        values.extend(cost() for _ in range(MORE_REPEATS))
        repeats += MORE_REPEATS
    floor = max((abs(value - f0) for value in values), default=0.0)
    relative = floor / abs(f0) if f0 else (float("inf") if floor else 0.0)
    return Noise(floor=floor, repeats=repeats, relative=relative, values=tuple(values))


def _one_way(values: list[float] | tuple[float, ...]) -> bool:
    steps = [b - a for a, b in itertools.pairwise(values)]
    return all(step > 0 for step in steps) or all(step < 0 for step in steps)
