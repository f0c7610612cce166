"""What a gradient check will cost, said before the first evaluation.

Once the parameters are known (:func:`nbgrad.gradcheck.params.collect`) and
before ``fun`` is called even once, two limits are checked:

- **evaluations.**  Full mode differences every real coordinate: at least
  :func:`planned_evaluations` calls (2 per coordinate, plus the base point
  and the noise repeats; confirmations of doubtful coordinates come on top).
  Past ``max_evaluations`` (default :data:`DEFAULT_MAX_EVALUATIONS`) the
  check is refused up front with :class:`EvaluationBudgetError`, which says
  how many and that fast mode decides with a few dozen (``%gradcheck`` adds the
  ``--mode fast`` command line);
- **memory.**  The working arrays (steps, estimates, errors, the restore
  copy) take about :data:`COPIES` float64 arrays of the parameters' size; when
  that exceeds the memory available — cgroup-aware
  (:func:`nbgrad.namespace.memory.available_host_memory`) — the check is
  refused with :class:`~nbgrad.errors.SnapshotError` instead of a MemoryError
  (or the kernel being killed) half-way.

>>> planned_evaluations(10_000_000, "full")
20000004
>>> planned_evaluations(10_000_000, "fast")
4
"""

from __future__ import annotations

from typing import Any

from nbgrad.errors import SnapshotError, UsageError
from nbgrad.gradcheck.noise import REPEATS
from nbgrad.namespace.memory import available_host_memory, size

#: Full-mode evaluations refused up front above this (``max_evaluations=``, ``--max-evaluations``).
DEFAULT_MAX_EVALUATIONS = 1_000_000

#: Peak working memory of a check, in float64 arrays of the parameters' element count,
#: measured with tracemalloc by benchmarks/bench_gradcheck_memory.py (full: 42.1 at 2·10⁴
#: elements; fast: 15.5 at 10⁶), rounded up.
COPIES = {"full": 43, "fast": 16}


class EvaluationBudgetError(UsageError):
    """A full check would need more evaluations than allowed; the numbers are attributes."""

    def __init__(self, message: str, *, coordinates: int, planned: int, budget: int) -> None:
        super().__init__(message)
        self.coordinates = coordinates
        self.planned = planned
        self.budget = budget


def coordinates(paramset: Any) -> int:
    """Real coordinates a check differences (a complex element counts twice)."""
    return sum(len(block.parts) * block.size for block in paramset.blocks)


def planned_evaluations(count: int, mode: str) -> int:
    """Evaluations announced before a check starts: base point, noise repeats, 2 per coordinate."""
    return 1 + REPEATS + (2 * count if mode == "full" else 0)


def check_budget(paramset: Any, mode: str, max_evaluations: int | None) -> None:
    """Refuse, before any evaluation, a check that cannot finish within the limits."""
    budget = DEFAULT_MAX_EVALUATIONS if max_evaluations is None else max_evaluations
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise UsageError(f"max_evaluations={max_evaluations!r}; expected a positive integer")
    count = coordinates(paramset)
    planned = planned_evaluations(count, mode)
    if planned > budget:
        raise EvaluationBudgetError(
            f"full mode would difference all {count:,} coordinates: at least {planned:,} "
            f"evaluations of the cost, over the budget of {budget:,} (max_evaluations=); "
            "fast mode (mode='fast') decides from random directional derivatives with a few "
            "dozen evaluations, plus about 6·log₂(N) per wrong element to find it — or raise "
            "max_evaluations",
            coordinates=count, planned=planned, budget=budget,
        )
    elements = sum(block.size for block in paramset.blocks)
    needed = COPIES[mode] * 8 * elements
    available = available_host_memory()
    if available is not None and needed > available.bytes:
        cheaper = "" if mode == "fast" else (
            f", or use mode='fast' (about {size(COPIES['fast'] * 8 * elements)})")
        raise SnapshotError(
            f"a {mode} check of {elements:,} elements needs about {size(needed)} of working "
            f"memory ({COPIES[mode]} float64 arrays of the parameters' size) but only "
            f"{available} is available; free memory (del what the check does not need), "
            f"check fewer parameters at a time (one array in --wrt){cheaper}"
        )
