"""Fast mode: random directional derivatives for the verdict, group testing to localise.

Full mode costs two evaluations per coordinate: 2·10⁶ forward passes for a
million parameters.  But a wrong gradient is a *vector* property, and one
directional derivative tests all coordinates at once.  For a set ``S`` of a
block's real coordinates and random weights ``w`` the test moves only ``S``:

    Δ = h ⊙ w on S (0 elsewhere),  D = C(θ + Δ₊) − C(θ − Δ₋),  A = a · (Δ₊ + Δ₋)

``D`` is the numeric and ``A`` the analytic change of the cost; their
difference is ``e · (Δ₊ + Δ₋)`` for the gradient error ``e``, plus O(h³)
truncation and rounding.  A test *fails* when ``|A − D|`` exceeds the
tolerance relative to ``max(|A|, |D|)`` (with the floor of
:mod:`nbgrad.gradcheck.compare`).  A failing whole-block test is repeated at
half the step with the same weights: the discrepancy extrapolated,
``E = (8·r(h/2) − r(h)) / 3``, keeps the part linear in the step (a gradient
error) and drops the cubic part (truncation), and one-sided changes that
disagree as much per unit step at ``h/2`` as at ``h`` mean a kink along the
direction (tied maxima, a ReLU at 0), which is no failure: the elements of
such a block are then sampled one by one, as full mode would check them.

**Verdict.**  Up to :data:`DIRECTIONS` tests over the whole block; the first
confirmed failure ends it (≤ 10 calls with the base point and the noise
repeats).  A first failure too large for a few elements (relative error above
:data:`WIDESPREAD`) is tested against a second direction: when both fail alike,
``A ≈ c·D``, a block-wide pattern is the hypothesis, checked on
:data:`EVIDENCE` + :data:`EVIDENCE` elements one by one, and claimed for them only.

**Localisation** is adaptive group testing along the failing direction: the
left half of a failing range is tested with the parent's own weights, the
right half's changes are the parent's minus the left's (one pair of calls per
split), and failing halves are split again down to single coordinates, which
are checked with full mode's passes (:mod:`nbgrad.gradcheck.full`): an element
is flagged only after that.  ``k`` wrong elements among ``N`` cost about
``2·k·log₂(N/k)`` calls plus ``≤ 8`` per element: 1 / 3 / 10 wrong among 10⁶
took 60 / 146 / 434 calls in all (``benchmarks/RESULTS_gradcheck.md``).  No
step curve is drawn.

**Cancellation.**  Errors of one half can cancel under the parent's weights
(random signs times magnitudes in [0.5, 1.5]).  A final test with fresh weights
over the whole block, the errors already found subtracted, catches what the
search missed: the block is then reported as not fully localised
(``cancelled``).  A failing range neither of whose halves fails is reported
as not localised — unless its failure was no larger than the cost's
rounding (:data:`~nbgrad.gradcheck.steps.ROUNDING_ULPS` times ``2·ε·|C|``, a
float16 forward pass): that range is reported as ``rounding_limited`` and not
counted as wrong.  A step whose cost is NaN or infinite left the cost's domain
and is retried smaller (:func:`~nbgrad.gradcheck.steps.domain_shrink`).  A
budget (:data:`MAX_FRONTIER` failing ranges) stops the search when errors are
everywhere and says so.

Sensitivity: the verdict sees an element error ``e_k`` against the whole
projection ``a·w``, whose size is about ``‖a‖``, so fast mode detects element
errors larger than about ``tol·‖a‖``; smaller ones need ``mode="full"``.

References: adaptive group testing — D.-Z. Du and F. K. Hwang, *Combinatorial
Group Testing and Its Applications* (2000), ch. 2 (binary splitting);
randomised directional derivative checks — the "fast mode" of
``torch.autograd.gradcheck``.

>>> _rel(2.0, 1.0, floor=0.0)  # a directional test's relative error: |A − D| / max(|A|, |D|)
0.5
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbgrad.backend import array_module, to_numpy
from nbgrad.gradcheck import full
from nbgrad.gradcheck.checks import BlockCheck, Directions, PartCheck
from nbgrad.gradcheck.compare import relative_error
from nbgrad.gradcheck.diagnoses import direction_pattern
from nbgrad.gradcheck.evaluate import CostCalls, Where
from nbgrad.gradcheck.numeric import DOMAIN_TRIES
from nbgrad.gradcheck.params import Block, ParamSet
from nbgrad.gradcheck.steps import (
    CENTRAL_EXPONENT,
    ROUNDING_ULPS,
    StepPolicy,
    domain_shrink,
    nominal,
)

#: Random directions for the verdict on each block.
DIRECTIONS = 3
#: Ranges of at most this many coordinates are checked element by element.  One: a split
#: costs 2 calls (the left half along the parent's direction), an element check 2 to 8.
LEAF = 1
#: A first failing direction whose relative error exceeds this is too wrong for a few
#: elements: a second direction tests for a block-wide pattern before splitting.
WIDESPREAD = 0.05
#: A failing block this small is checked element by element at once (cheaper than splitting).
DIRECT = 16
#: Failing ranges allowed at once before the search stops as "wrong everywhere".
MAX_FRONTIER = 64
#: Elements confirmed one by one (this many largest, this many random) when every direction
#: fails alike; the report claims only what they show.
EVIDENCE = 3
#: Confirming at least this many elements of a part first calibrates the step policy with
#: full mode's curvature probes (12 calls); fewer keep the ε^(1/3)·s step.
CALIBRATE = 16
#: Elements drawn at random and checked one by one when the search stops ("wrong everywhere").
SAMPLE = 12


@dataclass
class Change:
    """What one pair of evaluations along a direction showed."""

    analytic: float  # a · (Δ₊ + Δ₋)
    numeric: float  # C(θ + Δ₊) − C(θ − Δ₋)
    cost_size: float
    moved: float
    retries: int = 0  # how often the step was shrunk after leaving the cost's domain
    jump: float = 0.0  # |forward − backward| change: O(h²) when smooth, O(h) across a kink
    sides: tuple[float, float] = (0.0, 0.0)  # C(θ + Δ₊) − C(θ), C(θ) − C(θ − Δ₋)
    width: np.ndarray = field(default_factory=lambda: np.zeros(0))  # Δ₊ + Δ₋ per coordinate


@dataclass
class Test:
    """One directional test over [lo, hi): the analytic and numeric change and the verdict.

    ``weights`` are kept so that the halves of a failing range are tested with
    the same direction: the right half's discrepancy is the range's minus the
    left half's, one pair of evaluations per split instead of two.
    """

    lo: int
    hi: int
    weights: np.ndarray
    analytic: float  # at the first step
    numeric: float  # at the first step
    rel_error: float  # extrapolated where confirmed
    failed: bool
    cost_size: float
    moved: float  # largest |C(θ ± Δ) − C(θ)|: zero when the cost is flat, not merely stationary
    rounding_sized: bool = False  # failed by no more than the cost's rounding could explain
    kink: bool = False  # one-sided changes disagree at every step, the analytic between them
    width: np.ndarray = field(default_factory=lambda: np.zeros(0))


def random_weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random signs times magnitudes in [0.5, 1.5]: no cancellation survives a redraw."""
    signs = rng.choice(np.array([-1.0, 1.0]), size=n)
    return signs * rng.uniform(0.5, 1.5, size=n)


class BlockCoordinates:
    """A block's real coordinates (its parts one after the other), moved together by tests."""

    def __init__(
        self,
        block: Block,
        analytic: list[np.ndarray],
        eps: float,
        tol: float,
        f0: float,
        cost: CostCalls,
    ) -> None:
        self.block = block
        self.analytic = analytic
        self.eps, self.tol, self.f0, self.cost = eps, tol, f0, cost
        self.thetas = [part.flat_copy() for part in block.parts]
        self.size = block.size
        self.count = self.size * len(block.parts)

    def segments(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """``(part number, start, stop)`` in part coordinates for the range [lo, hi)."""
        found = []
        for number in range(len(self.block.parts)):
            start = max(lo, number * self.size) - number * self.size
            stop = min(hi, (number + 1) * self.size) - number * self.size
            if start < stop:
                found.append((number, start, stop))
        return found

    def change(
        self, lo: int, hi: int, weights: np.ndarray, scale: float, retries: int = 0
    ) -> Change:
        """Analytic and numeric cost change along ``weights`` on [lo, hi).

        ``retries`` shrinks the step that many times as after leaving the cost's
        domain (:func:`~nbgrad.gradcheck.steps.domain_shrink`); a NaN or infinite
        cost adds retries, up to :data:`~nbgrad.gradcheck.numeric.DOMAIN_TRIES`.
        """
        while True:
            last = retries == DOMAIN_TRIES
            found = self._change(lo, hi, weights, scale, retries, finite=last)
            if math.isfinite(found.numeric) or last:
                return found
            retries += 1

    def _change(
        self, lo: int, hi: int, weights: np.ndarray, scale: float, retries: int, finite: bool
    ) -> Change:
        plus_points, minus_points, widths = [], [], []
        predicted, used = 0.0, 0
        for number, start, stop in self.segments(lo, hi):
            segment = self.thetas[number][start:stop]
            w = array_module(segment).asarray(weights[used : used + stop - start])
            used += stop - start
            h = scale * nominal(segment, self.eps, CENTRAL_EXPONENT) * w
            for retry in range(retries):
                h = domain_shrink(segment, h, first=retry == 0)
            plus = (segment + h).astype(segment.dtype)
            minus = (segment - h).astype(segment.dtype)
            width = to_numpy(plus.astype(np.float64) - minus.astype(np.float64))
            predicted += float(self.analytic[number][start:stop] @ width)
            widths.append(width)
            plus_points.append((number, start, stop, plus))
            minus_points.append((number, start, stop, minus))
        f_plus = self.cost_at(plus_points, self.where(lo, hi, "+"), finite)
        f_minus = self.cost_at(minus_points, self.where(lo, hi, "-"), finite)
        return Change(
            analytic=predicted,
            numeric=f_plus - f_minus,
            cost_size=max(abs(self.f0), abs(f_plus), abs(f_minus)),
            moved=max(abs(f_plus - self.f0), abs(f_minus - self.f0)),
            retries=retries,
            jump=abs((f_plus - self.f0) - (self.f0 - f_minus)),
            sides=(f_plus - self.f0, self.f0 - f_minus),
            width=np.concatenate(widths) if widths else np.zeros(0),
        )

    def cost_at(
        self, points: list[tuple[int, int, int, Any]], where: Where, finite: bool = True
    ) -> float:
        """The cost with the given segments replaced; the segments are reset afterwards."""
        parts = self.block.parts
        try:
            for number, start, stop, values in points:
                parts[number].assign_range(start, stop, values, self.thetas[number])
            return self.cost(where, finite)
        finally:
            for number, start, stop, _ in points:
                theta = self.thetas[number]
                parts[number].assign_range(start, stop, theta[start:stop], theta)

    def where(self, lo: int, hi: int, sign: str) -> Where:
        name = self.block.name
        return lambda: (
            f"while {hi - lo} coordinate(s) of {name} (flat {lo}..{hi - 1}) were moved "
            f"together along a random direction ({sign})"
        )


class Search:
    """Directional tests and group testing over the coordinates of one block."""

    def __init__(self, coords: BlockCoordinates, rng: np.random.Generator) -> None:
        self.coords = coords
        self.rng = rng
        self.tests = 0
        self.unlocalised: list[tuple[int, int]] = []
        self.rounding_limited: list[tuple[int, int]] = []
        self.kinks = 0
        self.stopped = False
        self.cancelled = False

    def floor(self, cost_size: float) -> float:
        return 2 * self.coords.eps * cost_size / self.coords.tol

    def test(self, lo: int, hi: int) -> Test:
        """Directional test of [lo, hi) with fresh weights, a failure confirmed at half the step.

        The half step removes truncation (``E = (8·r(h/2) − r(h))/3`` keeps the
        part of the discrepancy linear in the step) and tells a kink from a bug,
        as full mode does element by element: one-sided changes whose
        disagreement does not shrink with the step, and an analytic change
        between them, are a kink along the direction (tied maxima, a ReLU at
        0), not a failure.
        """
        coords = self.coords
        weights = random_weights(self.rng, hi - lo)
        self.tests += 1
        coords.cost.expect(2)
        first = coords.change(lo, hi, weights, 1.0)
        a1, d1 = first.analytic, first.numeric
        floor = self.floor(first.cost_size)
        rel = _rel(a1, d1, floor)
        found = Test(lo, hi, weights, a1, d1, rel, False, first.cost_size, first.moved,
                     width=first.width)
        if rel <= coords.tol:
            return found
        coords.cost.expect(2)
        half = coords.change(lo, hi, weights, 0.5, first.retries)
        linear = (8 * (half.analytic - half.numeric) - (a1 - d1)) / 3
        found.rel_error = _rel(a1, a1 - linear, floor)
        found.kink = _on_kink(first, half, ROUNDING_ULPS * 2 * coords.eps * first.cost_size)
        found.failed = found.rel_error > coords.tol and not found.kink
        found.rounding_sized = abs(a1 - d1) <= ROUNDING_ULPS * 2 * coords.eps * first.cost_size
        self.kinks += found.kink
        return found

    def halves(self, parent: Test) -> list[Test]:
        """The halves of a failing range that fail too, tested along the parent's direction.

        Only the left half is evaluated; the right half's changes are the
        parent's minus the left's.  Its own errors cancelling under these
        weights can hide a half: :func:`final_check` looks for what was missed.
        """
        coords = self.coords
        lo, hi = parent.lo, parent.hi
        mid = (lo + hi) // 2
        left_weights = parent.weights[: mid - lo]
        self.tests += 1
        coords.cost.expect(2)
        change = coords.change(lo, mid, left_weights, 1.0)
        size = max(change.cost_size, parent.cost_size)
        tests = []
        for span, weights, a, d, width in (
            ((lo, mid), left_weights, change.analytic, change.numeric, change.width),
            ((mid, hi), parent.weights[mid - lo:], parent.analytic - change.analytic,
             parent.numeric - change.numeric, parent.width[mid - lo:]),
        ):
            rel = _rel(a, d, self.floor(size))
            tests.append(Test(*span, weights, a, d, rel, rel > coords.tol, size, change.moved,
                              width=width))
        failing = [test for test in tests if test.failed]
        if not failing:
            # Neither half fails though the range did: a rounding-sized failure (a float16
            # forward pass), or errors that only add up over the whole range.
            rounding = abs(parent.analytic - parent.numeric) <= (
                ROUNDING_ULPS * 2 * coords.eps * parent.cost_size
            )
            (self.rounding_limited if rounding else self.unlocalised).append((lo, hi))
        return failing

    def localise(self, root: Test) -> list[int]:
        """Coordinates left in failing ranges of one coordinate each, by binary splitting.

        Breadth first, so that the frontier holds the ranges failing at one
        level: more than :data:`MAX_FRONTIER` of them means the errors are
        everywhere, and enumerating them would cost more than full mode.
        """
        frontier = deque([root])
        leaves: list[int] = []
        while frontier:
            pending = sum(test.hi - test.lo for test in frontier)
            levels = max(math.log2(pending / len(frontier)), 1.0)
            # Nothing pruned yet (every half failed so far): dense errors, where checking
            # directly pays off a level earlier.
            dense = 2 if pending == self.coords.count else 1
            if pending <= dense * len(frontier) * levels:
                # Splitting on would cost about as much as differencing what is left one by
                # one (2 calls each), as full mode would: check them directly.
                leaves.extend(k for test in frontier for k in range(test.lo, test.hi))
                break
            if len(frontier) > MAX_FRONTIER:
                self.stopped = True
                self.unlocalised.extend((test.lo, test.hi) for test in frontier)
                break
            test = frontier.popleft()
            if test.hi - test.lo <= LEAF:
                leaves.extend(range(test.lo, test.hi))
            else:
                frontier.extend(self.halves(test))
        return sorted(leaves)

    def sample_unlocalised(self, n: int) -> list[int]:
        """Up to ``n`` distinct coordinates drawn uniformly from the unlocalised ranges."""
        lengths = np.array([hi - lo for lo, hi in self.unlocalised])
        if not lengths.size:
            return []
        starts = np.array([lo for lo, _ in self.unlocalised])
        ends = np.cumsum(lengths)
        draws = self.rng.choice(int(ends[-1]), size=min(n, int(ends[-1])), replace=False)
        ranges = np.searchsorted(ends, draws, side="right")
        return sorted(int(k) for k in starts[ranges] + draws - (ends[ranges] - lengths[ranges]))

    def final_check(self, parts: list[PartCheck]) -> None:
        """One fresh direction over the block, the errors already found subtracted.

        Errors that cancelled under the weights of the search leave a
        discrepancy that the found ones do not explain: the block is then
        reported as not fully localised rather than passed over in silence.
        """
        coords = self.coords
        test = self.test(0, coords.count)
        if not test.failed:
            return
        error = np.concatenate([
            np.where(part.flagged, part.analytic - part.numeric, 0.0) for part in parts
        ])
        explained = float(error @ test.width)
        rest = _rel(test.analytic - explained, test.numeric, self.floor(test.cost_size))
        if rest > coords.tol:
            self.cancelled = True
            self.unlocalised.append((0, coords.count))


def _on_kink(first: Change, half: Change, rounding: float) -> bool:
    """One-sided changes that disagree as much per unit step at h/2 as at h: a kink along d.

    Smooth: the disagreement is a second-order term, a quarter at half the step
    (half, per unit step).  Across a kink it is first order: half at half the
    step, the same per unit step.  (Whether the analytic change lies between the
    one-sided ones cannot be asked of a sum over many kinks — max-pool windows
    whose upstream gradients differ in sign order their one-sided slopes
    oppositely — so elements are checked one by one before any is called wrong.)
    """
    return 2 * half.jump > 0.75 * first.jump and first.jump > rounding


def _rel(analytic: float, numeric: float, floor: float) -> float:
    return float(relative_error(np.array([analytic]), np.array([numeric]), np.array([floor]))[0])


def is_flat(tests: list[Test], eps: float) -> bool:
    """The cost did not move at all, beyond rounding, in any random direction.

    One-sided changes, not the central difference: at a minimum the central
    difference vanishes too, but the cost still moves (quadratically).
    """
    return all(t.moved <= 4 * eps * t.cost_size for t in tests)


@dataclass
class BlockSearch:
    """A block between the verdict and the localisation."""

    block: Block
    coords: BlockCoordinates
    search: Search
    tests: list[Test]
    directions: Directions


def verdict(
    block: Block,
    analytic: list[np.ndarray],
    f0: float,
    cost: CostCalls,
    eps: float,
    tol: float,
    rng: np.random.Generator,
) -> BlockSearch:
    """Up to :data:`DIRECTIONS` tests over the whole block; the first failing one ends it."""
    coords = BlockCoordinates(block, analytic, eps, tol, f0, cost)
    search = Search(coords, rng)
    tests: list[Test] = []
    while len(tests) < DIRECTIONS and not any(t.failed for t in tests):
        tests.append(search.test(0, coords.count))
    directions = Directions(
        analytic=[t.analytic for t in tests],
        numeric=[t.numeric for t in tests],
        rel_errors=[t.rel_error for t in tests],
        failed=[t.failed for t in tests],
        flat=is_flat(tests, eps),
    )
    return BlockSearch(block, coords, search, tests, directions)


def localise(state: BlockSearch) -> BlockCheck:
    """After a failed verdict: a whole-block pattern, or group testing and confirmation."""
    coords, search, directions = state.coords, state.search, state.directions
    analytic = coords.analytic
    parts = [PartCheck.unchecked(p, a) for p, a in zip(state.block.parts, analytic, strict=True)]
    failed = [t for t in state.tests if t.failed]
    kinked = any(t.kink for t in state.tests)
    if (failed or kinked) and not directions.flat and coords.count <= DIRECT:
        confirm(list(range(coords.count)), parts, coords)
    elif failed and not directions.flat:
        _search(state, failed[0], parts)
    elif kinked:  # directions cannot vouch across kinks: a sample, element by element
        sample = search.rng.choice(coords.count, size=min(SAMPLE, coords.count), replace=False)
        directions.sampled = len(sample)
        confirm(sorted(int(k) for k in sample), parts, coords)
    directions.tests = search.tests
    directions.unlocalised = search.unlocalised
    directions.rounding_limited = search.rounding_limited
    directions.stopped = search.stopped
    directions.kinks = search.kinks
    directions.cancelled = search.cancelled
    return BlockCheck(state.block, parts, coords.tol, directions)


def _search(state: BlockSearch, root: Test, parts: list[PartCheck]) -> None:
    """A block-wide pattern from a second direction, or binary splitting along the first."""
    coords, search, directions = state.coords, state.search, state.directions
    if root.rel_error > WIDESPREAD:  # too large for a few elements: test for a pattern
        second = search.test(0, coords.count)
        state.tests.append(second)
        directions.analytic.append(second.analytic)
        directions.numeric.append(second.numeric)
        directions.rel_errors.append(second.rel_error)
        directions.failed.append(second.failed)
        directions.whole_block = direction_pattern(
            [t.analytic for t in state.tests], [t.numeric for t in state.tests],
            [t.failed for t in state.tests],
        )
    if directions.whole_block is not None:  # evidence element by element: only those claimed
        confirm(_evidence(coords.analytic, EVIDENCE, search.rng), parts, coords)
        return
    leaves = search.localise(root)
    sampled = search.sample_unlocalised(SAMPLE) if search.stopped else []
    directions.sampled = len(sampled)
    confirm(sorted(set(leaves) | set(sampled)), parts, coords)
    if not search.stopped:
        search.final_check(parts)


def _evidence(analytic: list[np.ndarray], n: int, rng: np.random.Generator) -> list[int]:
    """``n`` coordinates with the largest analytic values and ``n`` drawn at random.

    The largest are the most likely to be resolvable; the random ones keep a
    pattern seen only on large values (clipping) from passing for the block's.
    """
    values = np.abs(np.concatenate(analytic))
    largest = {int(k) for k in np.argsort(values)[-n:]}
    drawn = {int(k) for k in rng.choice(values.size, size=min(n, values.size), replace=False)}
    return sorted(largest | drawn)


def confirm(coordinates: list[int], parts: list[PartCheck], coords: BlockCoordinates) -> None:
    """Element-wise, confirmed differences (full mode's passes) at the given block coordinates."""
    by_part: dict[int, list[int]] = {}
    for k in coordinates:
        by_part.setdefault(k // coords.size, []).append(k % coords.size)
    for number, indices in by_part.items():
        coords.cost.expect(2 * len(indices))
        point = full.Point(coords.thetas[number], coords.f0, coords.cost)
        policy = StepPolicy(coords.eps, coords.tol, abs(coords.f0))
        if len(indices) >= CALIBRATE:  # many elements: full mode's curvature probes pay off
            policy = full.calibrate(parts[number], point, policy)
        full.check_coordinates(parts[number], np.array(indices), point, policy)


def check(
    paramset: ParamSet,
    analytic: list[list[np.ndarray]],
    f0: float,
    cost: CostCalls,
    eps_of: Callable[[Block], float],
    tolerances: list[float],
    seed: int,
) -> list[BlockCheck]:
    """Fast mode: the verdict on every block first, then localisation where it failed.

    Verdicts come first so that ``verdict_evaluations`` (recorded on every
    block's :class:`Directions`) says what the verdict alone cost.
    """
    rng = np.random.default_rng(seed)
    states = [
        verdict(block, values, f0, cost, eps_of(block), tol, rng)
        for block, values, tol in zip(paramset.blocks, analytic, tolerances, strict=True)
    ]
    for state in states:
        state.directions.verdict_evaluations = cost.count
    return [localise(state) for state in states]
