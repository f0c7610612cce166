"""Fast mode: verdict in a handful of evaluations, localisation in O(k log N)."""

from __future__ import annotations

import numpy as np
import pytest

from nbgrad.gradcheck import gradcheck
from nbgrad.report.schema import validate_report
from tests.gradcheck_fixtures import SEED003_BLOCKS, max_pool, quadratic, seed003_problem


class Counted:
    """Counts calls of the cost and of the gradient, to hold the report's count to the truth."""

    def __init__(self, cost, grad):
        self.cost, self.grad = cost, grad
        self.cost_calls = self.grad_calls = 0

    def fun(self, theta):
        self.cost_calls += 1
        return self.cost(theta)

    def gradient(self, theta):
        self.grad_calls += 1
        return self.grad(theta)


def _quadratic_problem(n, wrong=None, seed=0):
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 2.0, n)
    theta = rng.normal(size=n)
    return theta, Counted(*quadratic(scale, wrong))


def test_one_wrong_element_among_a_million_in_at_most_60_evaluations():
    n, k = 10**6, 734_519
    theta, counted = _quadratic_problem(n, {k: 0.3})
    before = theta.tobytes()
    report = gradcheck(counted.fun, theta, grad=counted.gradient, mode="fast")
    assert report.evaluations <= 60
    assert report.evaluations == counted.cost_calls and counted.grad_calls == 1
    assert report.to_dict()["fast"]["verdict_evaluations"] <= 10
    block = report.blocks[0]
    assert block["flagged"] == [k] and block["n_flagged"] == 1
    assert block["worst"][0]["index"] == k
    assert block["worst"][0]["analytic"] - block["worst"][0]["numeric"] == pytest.approx(0.3)
    assert theta.tobytes() == before
    validate_report(report.to_dict())


def test_correct_gradient_passes_in_a_handful_of_evaluations():
    theta, counted = _quadratic_problem(10**5)
    report = gradcheck(counted.fun, theta, grad=counted.gradient, mode="fast")
    assert report.passed
    assert report.evaluations <= 12  # base, 3 noise repeats, 3 directions × 2
    assert report.max_rel_error < 1e-6


def test_cancelling_errors_in_one_group_are_both_found():
    """Equal and opposite errors next to each other would cancel under plain ±1 signs."""
    theta, counted = _quadratic_problem(4096, {1000: 0.5, 1001: -0.5}, seed=5)
    report = gradcheck(counted.fun, theta, grad=counted.gradient, mode="fast")
    assert report.blocks[0]["flagged"] == [1000, 1001]


@pytest.mark.parametrize("seed", range(5))
def test_several_scattered_errors_are_all_found(seed):
    rng = np.random.default_rng(100 + seed)
    wrong = {
        int(i): float(rng.choice([-1, 1]) * rng.uniform(0.1, 1.0))
        for i in rng.choice(20_000, 4, replace=False)
    }
    theta, counted = _quadratic_problem(20_000, wrong, seed=seed)
    report = gradcheck(counted.fun, theta, grad=counted.gradient, mode="fast", seed=seed)
    assert report.blocks[0]["flagged"] == sorted(wrong)
    assert report.evaluations < 4 * 6 * 15 + 40


def test_seed003_bias_bug_in_fast_mode():
    cost, nn_params = seed003_problem(bias_bug=True)
    report = gradcheck(cost, nn_params, blocks=SEED003_BLOCKS, mode="fast")
    assert report.block("Theta1")["passed"]
    assert report.block("Theta2")["flagged"] == [0, 6, 12]
    assert report.findings[0]["code"] == "regulariser"
    assert report.to_dict()["mode"] == "fast"


def test_fast_mode_checks_only_what_it_needs():
    cost, nn_params = seed003_problem()
    report = gradcheck(cost, nn_params, blocks=SEED003_BLOCKS, mode="fast")
    assert report.passed
    assert all(block["checked"] == 0 for block in report.blocks)
    # A passing fast verdict says what it cannot rule out.
    assert [f["code"] for f in report.findings] == ["fast_sensitivity"] * 2
    assert all(f["details"]["smallest_detectable"] > 0 for f in report.findings)
    heat = report.blocks[0]["heatmap"]
    assert all(value is None for row in heat["values"] for value in row)


def test_same_seed_same_run():
    theta, counted = _quadratic_problem(5000, {17: 0.2})
    first = gradcheck(counted.fun, theta, grad=counted.gradient, mode="fast", seed=3)
    second = gradcheck(counted.fun, theta, grad=counted.gradient, mode="fast", seed=3)
    assert first.evaluations == second.evaluations
    assert first.blocks[0]["flagged"] == second.blocks[0]["flagged"] == [17]


def test_complex_block_in_fast_mode_localises_the_imaginary_part():
    rng = np.random.default_rng(4)
    z = rng.normal(size=300) + 1j * rng.normal(size=300)

    def cost(z):
        return float(np.sum(np.abs(z) ** 2))

    def grad(z):
        g = 2 * z.real + 2j * z.imag
        g[123] += 0.5j
        return g

    report = gradcheck(cost, z, grad=grad, mode="fast")
    block = report.blocks[0]
    assert block["flagged"] == [123]
    assert block["worst"][0]["numeric_imag"] == pytest.approx(2 * z[123].imag, rel=1e-6)


def test_fast_mode_float32_network_passes():
    cost, nn_params = seed003_problem(np.float32)
    assert gradcheck(cost, nn_params, blocks=SEED003_BLOCKS, mode="fast").passed


def test_errors_everywhere_stop_the_search_with_a_sample():
    rng = np.random.default_rng(0)
    theta = rng.normal(size=(100, 100))
    noise = rng.normal(size=theta.shape) * 0.1
    report = gradcheck(
        lambda t: float(np.sum(np.sin(t))), theta, grad=lambda t: np.cos(t) + noise, mode="fast"
    )
    block = report.to_dict()["blocks"][0]
    assert not report.passed
    assert block["fast"]["stopped"] and block["fast"]["sampled"] == 12
    assert block["n_flagged"] == 12  # every sampled element is wrong
    assert report.evaluations < 2 * theta.size / 10
    assert "12 of the 12 element(s) checked one by one wrong" in report.headline
    assert "too many to isolate in fast mode" in report.headline
    assert any(f["code"] == "unlocalised" for f in report.findings)


def test_sparse_errors_too_many_to_isolate_are_not_called_everywhere():
    """400 wrong of 20,000: the search stops and its random sample finds none wrong.

    The headline then rests on the failing directions and ranges, never on the
    sample (a past headline read "0 of 12 wrong (failing everywhere)").
    """
    rng = np.random.default_rng(0)
    theta = rng.normal(size=20_000)
    bad = rng.choice(theta.size, size=400, replace=False)

    def grad(t):
        g = np.cos(t)
        g[bad] *= 1.5
        return g

    report = gradcheck(lambda t: float(np.sum(np.sin(t))), theta, grad=grad, mode="fast")
    block = report.to_dict()["blocks"][0]
    assert not report.passed and block["fast"]["stopped"]
    finding = next(f for f in report.findings if f["code"] == "unlocalised")
    ranges = finding["message"].split(": ")[1].split(" range(s)")[0]  # all, not the 20 listed
    assert f"in {ranges} failing range(s) of coordinates, too many to isolate" in report.headline
    assert "everywhere" not in report.headline.split(". ")[0]


@pytest.mark.parametrize("seed", range(4))
def test_tied_maxima_are_no_false_alarm_in_fast_mode(seed):
    """Integer inputs tie in most windows: every direction meets kinks, no element is wrong."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(2, 3, 8, 8)).astype(float)
    dout = rng.normal(size=(2, 3, 4, 4))
    report = gradcheck(lambda v: max_pool(v, dout), x, mode="fast", seed=seed)
    assert report.passed, report.headline
    block = report.blocks[0]
    assert block["n_flagged"] == 0 and block["fast"]["kinks"] >= 1
    assert "met a kink" in report.headline and "384 element(s) in" in report.headline
    doubled = gradcheck(lambda v: (max_pool(v, dout)[0], 2 * max_pool(v, dout)[1]), x,
                        mode="fast", seed=seed)
    assert not doubled.passed and doubled.blocks[0]["n_flagged"] > 0


@pytest.mark.parametrize("wrong", [1, 3])
def test_sparse_errors_are_localised_within_the_group_testing_budget(wrong):
    """k wrong among 2¹⁶: verdict ≤ 8, ~2 calls per split level, ≤ 8 per element confirmed."""
    theta, counted = _quadratic_problem(2**16)
    rng = np.random.default_rng(wrong)
    planted = sorted(rng.choice(theta.size, wrong, replace=False).tolist())

    def grad(t):
        g = counted.gradient(t)
        g[planted] += 0.05
        return g

    report = gradcheck(counted.fun, theta, grad=grad, mode="fast")
    assert report.blocks[0]["flagged"] == planted
    levels = 16
    assert report.evaluations <= 8 + 2 * wrong * levels + 8 * wrong + 4

