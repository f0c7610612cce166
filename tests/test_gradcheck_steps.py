"""The step policy: one object per block, every pass asks it; calibrated steps spend fewer calls."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from nbgrad.gradcheck import full, gradcheck
from nbgrad.gradcheck.steps import StepPolicy


def test_no_function_of_full_mode_takes_more_than_four_parameters():
    for name, value in vars(full).items():
        functions = [value] if inspect.isfunction(value) else []
        if inspect.isclass(value) and value.__module__ == full.__name__:
            functions = [f for f in vars(value).values() if inspect.isfunction(f)]
        for function in functions:
            if function.__module__ == full.__name__:
                assert len(inspect.signature(function).parameters) <= 4, (name, function)


def test_the_central_step_balances_the_cost_rounding_against_the_measured_curvature():
    eps = 2.0**-52
    big = StepPolicy(eps, 5e-7, cost_size=1e3, curvature=1.0)
    small = StepPolicy(eps, 5e-7, cost_size=1.0, curvature=1.0)
    assert big.relative_step == pytest.approx(10 * small.relative_step)  # (|C|)^(1/3)
    assert StepPolicy(eps, 5e-7, 1.0).relative_step == pytest.approx(eps ** (1 / 3))
    assert StepPolicy(eps, 5e-7, 1.0, curvature=0.0).relative_step == pytest.approx(eps**0.2)


def _cross_entropy_network(seed=0, n=32, d=20, h=16, k=5):
    rng = np.random.default_rng(seed)
    X, y = rng.normal(size=(n, d)), rng.integers(0, k, n)
    params = [rng.normal(size=(d, h)) * 0.3, rng.normal(size=h) * 0.1,
              rng.normal(size=(h, k)) * 0.3, rng.normal(size=k) * 0.1]

    def loss(p):
        W1, b1, W2, b2 = p
        a = np.tanh(X @ W1 + b1)
        s = a @ W2 + b2
        e = np.exp(s - s.max(axis=1, keepdims=True))
        P = e / e.sum(axis=1, keepdims=True)
        L = -np.log(P[np.arange(n), y]).sum() / n
        dS = P.copy()
        dS[np.arange(n), y] -= 1
        dS /= n
        da = dS @ W2.T * (1 - a**2)
        return float(L), (X.T @ da, da.sum(0), a.T @ dS, dS.sum(0))

    return loss, params


def test_a_correct_float64_network_is_checked_in_about_two_and_a_half_calls_per_parameter():
    loss, params = _cross_entropy_network()
    size = sum(p.size for p in params)
    report = gradcheck(loss, params)
    assert report.passed
    assert report.evaluations <= 2.6 * size  # 4.1 per parameter with the ε^(1/3)·s step
    assert report.max_rel_error < 1e-8


def test_a_planted_element_is_still_found_exactly():
    loss, params = _cross_entropy_network(seed=1)

    def planted(p):
        value, grads = loss(p)
        grads[0][3, 4] += 1e-3
        return value, grads

    report = gradcheck(planted, params)
    assert [b["flagged"] for b in report.blocks] == [[3 * 16 + 4], [], [], []]
    wrong, *right = report.blocks[0]["worst"]
    assert wrong["index"] == 3 * 16 + 4 and wrong["standard_errors"] > 1e3
    assert all(item["standard_errors"] < 100 for item in right)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_zero_initialised_weights_under_a_squared_relu_are_no_false_alarm(mode):
    """relu(w·x)² at w = 0 is C¹, not C²: central differences err by O(h) there."""
    x = np.array([1.0, -2.0, 0.5, 3.0])

    def cost(w, factor=1.0):
        z = np.maximum(w * x, 0)
        return float(np.sum(z**2)), factor * 2 * z * x

    w = np.zeros(4)
    assert gradcheck(cost, w, mode=mode).passed
    w = np.array([0.0, -0.3, 0.2, 0.1])  # 0.0 still among them
    assert not gradcheck(lambda v: cost(v, 1.5), w, mode=mode).passed
