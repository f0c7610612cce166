"""Compact: what a report adds to a saved notebook, whatever the number of parameters.

Real reports from the engine (full mode up to 2·10⁴ elements, where the heatmap is
already pooled to its largest size, and fast mode at 10⁶), displayed as nbgrad
displays them (text, static HTML, JSON) and written by nbformat exactly as
JupyterLab saves a notebook.  Budgets: a passing report at most 20 KB, a
failing one at most 150 KB (two large failing blocks included).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nbformat
import numpy as np
import pytest

import nbgrad
from nbgrad.report.bundle import mimebundle

PASSING_BYTES = 20_000
FAILING_BYTES = 150_000


def saved_bytes(report: Any) -> int:
    """Bytes the report's output adds to a notebook file (nbformat's own writer)."""
    output = nbformat.v4.new_output("execute_result", data=mimebundle(report.to_dict()),
                                    execution_count=1)
    with_report = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("c", outputs=[output])])
    without = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("c")])
    return len(nbformat.writes(with_report).encode()) - len(nbformat.writes(without).encode())


def _quadratic(params: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    grads = {name: 2 * p for name, p in params.items()}
    return float(sum((p ** 2).sum() for p in params.values())), grads


def _buggy(params: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """A flipped column, a scaled row and scattered wrong elements in every block."""
    cost, grads = _quadratic(params)
    for grad in grads.values():
        grad[:, 3] *= -1
        grad[5] *= 1.5
        grad.flat[::97] += 1.0
    return cost, grads


def _few_wrong(params: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """Three wrong elements: what fast mode is for (localising a few among 10⁶)."""
    cost, grads = _quadratic(params)
    for grad in grads.values():
        grad.flat[[7, grad.size // 2, grad.size - 1]] += 1.0
    return cost, grads


CASES = [
    ("full", {"W": (10, 10)}, _buggy),
    ("full", {"W": (100, 200)}, _buggy),
    ("full", {"W1": (100, 100), "W2": (100, 100)}, _buggy),
    ("fast", {"W": (1000, 1000)}, _few_wrong),
]


@pytest.mark.parametrize(("mode", "shapes", "bug"), CASES, ids=lambda v: getattr(v, "__name__",
                                                                                 str(v)))
@pytest.mark.parametrize("failing", [False, True], ids=["passing", "failing"])
def test_a_report_in_a_saved_notebook_stays_within_its_budget(
    mode: str, shapes: dict[str, tuple[int, int]], bug: Callable, failing: bool
) -> None:
    rng = np.random.default_rng(0)
    params = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    report = nbgrad.gradcheck(bug if failing else _quadratic, params, mode=mode)
    assert report.passed != failing
    size = saved_bytes(report)
    budget = FAILING_BYTES if failing else PASSING_BYTES
    assert size <= budget, f"{size} bytes > {budget}"
