"""The Taylor test: remainder orders that say right (h²) or wrong (h) without a tolerance."""

from __future__ import annotations

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nbgrad.gradcheck import gradcheck
from nbgrad.gradcheck.taylor import convergence_orders, verdict_of
from nbgrad.report.schema import validate_report


def _problem(seed: int, n: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3 * n, n))
    y = rng.normal(size=3 * n)

    def cost(w):
        r = np.tanh(x @ w) - y
        return 0.5 * r @ r, x.T @ (r * (1 - np.tanh(x @ w) ** 2))

    return cost, rng.normal(size=n)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12))
@example(seed=0, n=5)
def test_a_right_gradient_has_second_order_remainders(seed: int, n: int) -> None:
    cost, w = _problem(seed, n)
    taylor = gradcheck(cost, w).block("params")["taylor"]
    assert taylor["verdict"] == "second_order", taylor
    assert all(abs(order - 2) < 0.2 for order in taylor["orders"][-2:])


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(2, 12),
    c=st.floats(-3, 3).filter(lambda c: abs(c - 1) > 0.05),
)
@example(seed=0, n=5, c=-1.0)
@example(seed=1, n=3, c=0.0)
def test_a_scaled_gradient_has_first_order_remainders(seed: int, n: int, c: float) -> None:
    cost, w = _problem(seed, n)

    def scaled(w):
        value, grad = cost(w)
        return value, c * grad

    report = gradcheck(scaled, w)
    taylor = report.block("params")["taylor"]
    assert taylor["verdict"] == "first_order", taylor
    assert "wrong" in taylor["message"]
    assert taylor["message"] in str(report)  # the text report shows the line
    validate_report(report.to_dict())


def test_orders_skip_rounding_sized_remainders() -> None:
    assert convergence_orders([1e-6, 2.5e-7, 1e-15], floor=1e-14) == [2.0, None]
    assert verdict_of([2.0, None]) == "rounding_limited"
    assert verdict_of([2.0, 1.5, 1.1]) == "inconclusive"


def test_float32_cost_is_checked_at_larger_steps() -> None:
    cost, w = _problem(3, 6)

    def single(w32):
        value, grad = cost(w32.astype(np.float64))
        return np.float32(value), grad.astype(np.float32)

    taylor = gradcheck(single, w.astype(np.float32)).block("params")["taylor"]
    assert taylor["steps"][0] > 0.1
    assert taylor["verdict"] == "second_order", taylor
