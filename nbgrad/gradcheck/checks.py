"""Per-coordinate outcome of a check, the common currency of full mode, fast mode and diagnosis.

Both modes end with, for every real coordinate of every part: the analytic
derivative, the numeric one (NaN where fast mode never computed it), the
relative error, the step, and three verdicts — *flagged* (a confirmed
mismatch: the user's bug), *kink* (one-sided differences disagree at the
point: not differentiable there, so excluded from failing) and *moved* (the
cost changed at all when the coordinate moved; a block where nothing moved is
flat).  :class:`BlockCheck` folds the
one or two parts of a block (real, or real and imaginary) back into elements,
which is what the report and the diagnosis speak about.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nbgrad.gradcheck.params import Block, Part


@dataclass
class PartCheck:
    """Outcome for every coordinate of one part (host arrays of the part's size)."""

    part: Part
    analytic: np.ndarray
    numeric: np.ndarray
    rel_error: np.ndarray
    step: np.ndarray
    floor: np.ndarray
    flagged: np.ndarray
    kink: np.ndarray
    moved: np.ndarray  # the cost changed (one-sided, beyond rounding) when this coordinate moved
    unresolved: np.ndarray = None  # estimates scatter by rounding more than the tolerance

    def __post_init__(self) -> None:
        if self.unresolved is None:
            self.unresolved = np.zeros(self.analytic.size, dtype=bool)

    @classmethod
    def unchecked(cls, part: Part, analytic: np.ndarray) -> PartCheck:
        """Nothing computed yet: NaN numbers, nothing flagged."""
        size = analytic.size
        nan = np.full(size, np.nan)
        no = np.zeros(size, dtype=bool)
        return cls(
            part, analytic, nan, nan.copy(), nan.copy(), nan.copy(), no, no.copy(), no.copy()
        )

    @property
    def checked(self) -> np.ndarray:
        return ~np.isnan(self.numeric)


@dataclass
class Directions:
    """Fast mode's evidence about a block besides element-wise checks.

    ``analytic``/``numeric``/``rel_errors``/``failed``: the verdict's random
    directions.  ``flat``: the cost did not move in any of them.  ``whole_block``:
    every direction failed alike, ``(code, c)`` with code ``scale``,
    ``sign_flip`` or ``zero_analytic``.  ``unlocalised``: coordinate ranges
    ``[lo, hi)`` that failed but whose halves did not; ``rounding_limited``:
    such ranges whose failure was no larger than the cost's rounding, so not
    counted as wrong; ``stopped``: the search ran out of budget because errors
    are everywhere.
    """

    analytic: list[float]
    numeric: list[float]
    rel_errors: list[float]
    failed: list[bool]
    tests: int = 0
    flat: bool = False
    whole_block: tuple[str, float] | None = None
    unlocalised: list[tuple[int, int]] = field(default_factory=list)
    rounding_limited: list[tuple[int, int]] = field(default_factory=list)
    stopped: bool = False
    verdict_evaluations: int = 0
    sampled: int = 0
    kinks: int = 0  # failing directions put down to a kink along them (not failures)
    cancelled: bool = False  # the final direction found errors the search had not

    def max_rel_error(self) -> float:
        """Worst direction; failures put down to rounding (``rounding_limited``) left out."""
        errors = self.rel_errors
        if self.rounding_limited and not self.unlocalised and not all(self.failed):
            errors = [e for e, failed in zip(errors, self.failed, strict=True) if not failed]
        return float(max(errors))

    def to_dict(self) -> dict[str, object]:
        """The block's ``fast`` entry in the report."""
        return {
            "directions": len(self.failed),
            "failed_directions": int(sum(self.failed)),
            "tests": self.tests,
            "unlocalised": [[int(lo), int(hi)] for lo, hi in self.unlocalised[:20]],
            "rounding_limited": [[int(lo), int(hi)] for lo, hi in self.rounding_limited[:20]],
            "stopped": self.stopped,
            "sampled": self.sampled,
            "kinks": self.kinks,
            "cancelled": self.cancelled,
        }


@dataclass
class BlockCheck:
    """A block's elements: parts folded together (complex: real and imaginary parts)."""

    block: Block
    parts: list[PartCheck]
    tolerance: float
    directions: Directions | None = None

    def max_rel_error(self) -> float:
        """Worst checked element off kinks; fast mode with none checked: worst direction.

        Elements on a kink are excluded: their central difference is not a
        derivative, and they do not count as errors either; so are elements whose
        estimates rounding scattered wider than the tolerance.  NaN: nothing checked.
        """
        errors = self.rel_error[self.checked & ~self.kink & ~self.unresolved]
        if errors.size:
            return float(np.max(errors))
        if self.directions is not None and self.directions.rel_errors:
            return self.directions.max_rel_error()
        return float("nan")

    def _fold(self, name: str) -> np.ndarray:
        values = [getattr(check, name) for check in self.parts]
        return values[0] if len(values) == 1 else values[0] + 1j * values[1]

    @property
    def analytic(self) -> np.ndarray:
        """Flat analytic gradient (complex: dC/dRe + i·dC/dIm)."""
        return self._fold("analytic")

    @property
    def numeric(self) -> np.ndarray:
        return self._fold("numeric")

    @property
    def rel_error(self) -> np.ndarray:
        """Worst relative error over the element's checked parts; NaN where none was checked."""
        return np.fmax.reduce([check.rel_error for check in self.parts])

    @property
    def step(self) -> np.ndarray:
        return self.parts[0].step

    @property
    def flagged(self) -> np.ndarray:
        return np.any(np.stack([check.flagged for check in self.parts]), axis=0)

    @property
    def kink(self) -> np.ndarray:
        return np.any(np.stack([check.kink for check in self.parts]), axis=0)

    @property
    def unresolved(self) -> np.ndarray:
        """Elements whose numeric derivative rounding left less precise than the tolerance."""
        return np.any(np.stack([check.unresolved for check in self.parts]), axis=0)

    @property
    def checked(self) -> np.ndarray:
        """Elements with at least one part differenced (fast mode may check only one)."""
        return np.any(np.stack([check.checked for check in self.parts]), axis=0)

    @property
    def floor(self) -> np.ndarray:
        return np.fmax.reduce([check.floor for check in self.parts])
