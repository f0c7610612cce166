"""The IPython-free cell adapter behind ``%%gradcheck`` (:mod:`nbgrad.gradcheck.cell`).

Properties over random parameters: a correct gradient passes whether it is
returned or read off a fused update, and whatever happens (an interrupt at any
run of the cell) every array is back bit for bit, in the same object.
"""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from nbgrad.errors import UsageError
from nbgrad.gradcheck.cell import CellCost, gradcheck_cell, resolve_parameters

weights = arrays(
    np.float64, array_shapes(min_dims=1, max_dims=2, max_side=5),
    elements=st.floats(0.25, 2.0) | st.floats(-2.0, -0.25),
)

# A smooth cost with a hand-written gradient, and the same as one fused training step.
RETURNS_GRADIENT = "cost = np.sum(np.cos(w) * scale)\ncost, -np.sin(w) * scale\n"
FUSED_STEP = (
    "cost = np.sum(np.cos(w) * scale)\n"
    "w = w - lr * (-np.sin(w) * scale)\n"
    "history.append(cost)\n"
    "cost\n"
)


def namespace(w: np.ndarray, **extra: object) -> dict[str, object]:
    return {"__name__": "__main__", "np": np, "w": w, "scale": 1.5, "history": [], **extra}


@settings(max_examples=15, deadline=None)
@given(weights)
def test_a_returned_correct_gradient_passes(w):
    report = gradcheck_cell(RETURNS_GRADIENT, namespace(w.copy()), "w")
    assert report.passed and report.max_rel_error < 1e-8


@settings(max_examples=15, deadline=None)
@given(weights, st.floats(1e-3, 10.0))
def test_a_gradient_read_off_a_fused_update_passes_and_nothing_changes(w, lr):
    ns = namespace(w, lr=lr)
    before, history = w.tobytes(), ns["history"]
    report = gradcheck_cell(FUSED_STEP, ns, "w", update_lr=lr)
    assert report.passed
    assert ns["w"] is w and w.tobytes() == before
    assert ns["history"] is history and history == []
    assert "cost" not in ns


@settings(max_examples=20, deadline=None)
@given(weights, st.integers(1, 40), st.booleans())
def test_an_interrupt_at_any_run_restores_every_array(w, k, fused):
    runs = itertools.count(1)
    ns = namespace(w, lr=0.5, runs=runs)
    before = w.tobytes()
    stop = f"if next(runs) == {k}:\n    raise KeyboardInterrupt\n"
    cell = stop + (FUSED_STEP if fused else RETURNS_GRADIENT)
    with contextlib.suppress(KeyboardInterrupt):  # k may exceed the runs a small w needs
        gradcheck_cell(cell, ns, "w", update_lr=0.5 if fused else None)
    assert ns["w"] is w and w.tobytes() == before and ns["history"] == []


def test_cell_cost_must_be_entered_before_use():
    cost = CellCost("w.sum()", namespace(np.ones(2)), "w")
    with pytest.raises(RuntimeError, match="must be entered"):
        cost()


def test_resolve_parameters_reports_each_missing_step():
    class Net:
        pass

    net = Net()
    net.layers = {"W": np.ones(2)}
    ns = {"net": net}
    assert resolve_parameters("net.layers['W']", ns)["net.layers['W']"] is net.layers["W"]
    with pytest.raises(UsageError, match=r"net.layers has no item \['V'\]; it has: 'W'"):
        resolve_parameters("net.layers['V']", ns)


def test_syntax_errors_name_the_line():
    with pytest.raises(UsageError, match=r"not valid Python: .* \(line 2\)"):
        CellCost("x = 1\nx = = 2\n", namespace(np.ones(2)), "w")


def test_update_lr_must_be_positive_and_excludes_grad():
    with pytest.raises(UsageError, match="positive learning rate"):
        CellCost(FUSED_STEP, namespace(np.ones(2)), "w", update_lr=0.0)
    with pytest.raises(UsageError, match="replaces --grad"):
        CellCost(FUSED_STEP, namespace(np.ones(2)), "w", update_lr=0.1, grad_name="g")
