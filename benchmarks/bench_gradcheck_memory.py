"""Working memory of a gradient check, in float64 arrays of the parameters' size.

The figure behind :data:`nbgrad.gradcheck.budget.COPIES`, which refuses a
check whose copies would not fit before the first evaluation.  numpy reports
its allocations to :mod:`tracemalloc`, so the traced peak during
``gradcheck`` is the check's own working memory (the parameters themselves
excluded).  Run: ``python benchmarks/bench_gradcheck_memory.py`` (about a
minute; sizes where the per-element arrays dominate the fixed overhead).
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from nbgrad import gradcheck
from nbgrad.gradcheck.budget import COPIES

RUNS = (("full", 20_000), ("fast", 1_000_000))


def copies(mode: str, n: int) -> tuple[float, int]:
    theta = np.random.default_rng(0).standard_normal(n)

    def cost(p: np.ndarray) -> tuple[float, np.ndarray]:
        return 0.5 * float(p @ p), p.copy()

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    report = gradcheck(cost, theta, mode=mode)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak / (8 * n), report.evaluations


if __name__ == "__main__":
    print(f"{'mode':5} {'elements':>10} {'evaluations':>12} {'copies':>7} {'budget.COPIES':>14}")
    for mode, n in RUNS:
        measured, evaluations = copies(mode, n)
        print(f"{mode:5} {n:>10,} {evaluations:>12,} {measured:>7.1f} {COPIES[mode]:>14}")
        assert measured <= COPIES[mode], "budget.COPIES underestimates: raise it"
