"""What kind of wrong: every diagnosis code, produced by the bug that causes it."""

from __future__ import annotations

import numpy as np
import pytest

from nbgrad.gradcheck import gradcheck
from nbgrad.report.schema import validate_report
from tests.gradcheck_fixtures import layer_cost, layer_grad, layer_problem, seed001_rnn


def _check(make_grad, shape=(4, 3), mode="full", **options):
    w, x, y = layer_problem(shape)
    report = gradcheck(
        lambda p: layer_cost(p, x, y),
        w,
        grad=lambda p: make_grad(layer_grad(p, x, y)),
        mode=mode,
        **options,
    )
    validate_report(report.to_dict())
    return report


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_forgotten_one_over_m_is_a_scale_with_c_equal_to_m(mode):
    report = _check(lambda g: 6 * g, mode=mode)  # layer_cost divides by m = 6
    block = report.blocks[0]
    assert report.diagnoses == ["scale"]
    assert block["scale"] == pytest.approx(6.0, rel=1e-5)
    if mode == "full":
        assert block["n_flagged"] == block["checked"] == 12
    else:  # fast mode claims only the elements it checked one by one
        assert 0 < block["n_flagged"] == block["checked"] <= 12
        assert f"at {block['checked']} element(s)" in report.findings[0]["message"]
    assert "m = 6" in report.findings[0]["message"]


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_sign_flip(mode):
    report = _check(lambda g: -g, mode=mode)
    assert report.diagnoses == ["sign_flip"]
    assert report.blocks[0]["scale"] == -1.0


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_zero_analytic(mode):
    report = _check(np.zeros_like, mode=mode)
    assert report.diagnoses == ["zero_analytic"]
    assert not report.passed


def test_transpose_of_a_square_block():
    report = _check(lambda g: g.T.copy(), shape=(4, 4))
    assert report.diagnoses == ["transpose"]
    # The diagonal is right, everything else wrong.
    assert set(report.blocks[0]["flagged"]).isdisjoint({0, 5, 10, 15})


def test_transpose_then_reshape_of_a_rectangular_block():
    report = _check(lambda g: g.T.reshape(g.shape), shape=(4, 3))
    assert report.diagnoses == ["transpose"]


def test_one_wrong_row_is_described_as_a_row():
    def wrong_row(g):
        g = g.copy()
        g[2] += 0.05
        return g

    report = _check(wrong_row, shape=(5, 4))
    assert report.blocks[0]["flagged"] == [8, 9, 10, 11]
    codes = [f["code"] for f in report.findings]
    assert "one_row" in codes
    row = next(f for f in report.findings if f["code"] == "one_row")
    assert row["details"] == {"axis": "row", "index": 2, "whole": True}


def test_isolated_element():
    def one_off(g):
        g = g.copy()
        g[1, 1] *= 1.5
        return g

    report = _check(one_off, shape=(4, 3))
    assert report.blocks[0]["flagged"] == [4]
    assert report.findings[0]["code"] == "isolated"
    assert "params[1, 1]" in report.findings[0]["message"]


def _siamese(params):
    """Seed 002 ported to numpy: a shared tanh branch with ONE output unit, cosine criterion."""
    w1, w2 = params
    x1 = np.linspace(0.1, 0.6, 6)
    x2 = np.linspace(0.9, 0.2, 6)
    u = np.tanh(w2 @ np.tanh(w1 @ x1))
    v = np.tanh(w2 @ np.tanh(w1 @ x2))
    return float(np.sum(u * v) / (np.linalg.norm(u) * np.linalg.norm(v)))


def test_seed002_cosine_of_two_scalars_is_flat_and_fails():
    rng = np.random.default_rng(2)
    params = [rng.normal(size=(3, 6)), rng.normal(size=(1, 3))]
    report = gradcheck(_siamese, params, grad=lambda p: [np.zeros((3, 6)), np.zeros((1, 3))])
    assert not report.passed
    assert report.diagnoses == ["flat"]
    assert all(block["diagnoses"] == ["flat"] for block in report.blocks)
    assert "nothing can train" in report.findings[0]["message"]
    fast = gradcheck(
        _siamese, params, grad=lambda p: [np.zeros((3, 6)), np.zeros((1, 3))], mode="fast"
    )
    assert fast.diagnoses == ["flat"] and not fast.passed


def test_relu_kink_at_the_point_is_not_the_users_bug():
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    theta = np.array([0.0, 1.0, -2.0, 0.5])

    def cost(p):
        return float(weights @ np.maximum(p, 0))

    report = gradcheck(cost, theta, grad=lambda p: (p > 0) * weights)
    assert report.passed
    assert report.diagnoses == ["nondifferentiable"]
    assert "params[0]" in report.findings[0]["details"]["elements"]
    # A gradient outside the one-sided slopes is still an error.
    wrong = gradcheck(cost, theta, grad=lambda p: (p > 0) * weights + (p == 0) * 7.0)
    assert not wrong.passed and wrong.blocks[0]["flagged"] == [0]


def test_abs_kink_with_a_subgradient():
    """d|x|/dx at 0 taken as +1 (a valid subgradient): the central difference says 0."""
    theta = np.array([0.0, 0.3])
    report = gradcheck(lambda p: float(np.sum(np.abs(p))), theta, grad=lambda p: 2.0 * (p >= 0) - 1)
    assert report.passed and report.diagnoses == ["nondifferentiable"]


class Jitter:
    """A cost with nondeterministic-reduction-like jitter of relative size ``level``."""

    def __init__(self, level: float, seed: int = 0):
        self.level = level
        self.rng = np.random.default_rng(seed)

    def __call__(self, value: float) -> float:
        return value * (1 + self.level * self.rng.standard_normal())


@pytest.mark.parametrize("level", [1e-13, 1e-10])
def test_noisy_cost_widens_tolerance_instead_of_false_mismatches(level):
    jitter = Jitter(level)
    w, x, y = layer_problem((4, 3))
    report = gradcheck(lambda p: jitter(layer_cost(p, x, y)), w, grad=lambda p: layer_grad(p, x, y))
    assert report.passed
    assert report.diagnoses == ["noisy"]
    document = report.to_dict()
    assert document["noise"]["noisy"] and document["noise"]["floor"] > 0
    assert document["tolerance"] > 1e-6
    assert any(f["code"] == "noisy" for f in report.findings)


def test_noisy_cost_still_catches_a_real_bug():
    jitter = Jitter(1e-10, seed=3)
    w, x, y = layer_problem((4, 3))
    report = gradcheck(
        lambda p: jitter(layer_cost(p, x, y)), w, grad=lambda p: 1.1 * layer_grad(p, x, y)
    )
    assert not report.passed
    assert set(report.diagnoses) == {"noisy", "scale"}


def test_deterministic_cost_is_not_noisy():
    report = _check(lambda g: g)
    assert report.to_dict()["noise"] == {
        "floor": 0.0,
        "noisy": False,
        "repeats": 3,
        "relative": 0.0,
        "drift": None,
        "too_noisy": False,
    }


def test_float16_correct_passes_and_a_scale_bug_fails():
    w, x, y = layer_problem((4, 3), dtype=np.float16)
    good = gradcheck(lambda p: layer_cost(p, x, y), w, grad=lambda p: layer_grad(p, x, y))
    assert good.passed
    assert good.to_dict()["tolerance"] > 1e-2  # honest: three significant digits
    bad = gradcheck(lambda p: layer_cost(p, x, y), w, grad=lambda p: 2 * layer_grad(p, x, y))
    assert not bad.passed


def test_seed001_wrong_preactivation_is_a_per_column_scale():
    params, cost, grad = seed001_rnn()
    names = ["NN.AB", "NN.BC", "NN.B_RNN"]
    report = gradcheck(cost, params, grad=grad, names=names)
    assert [b["passed"] for b in report.blocks] == [False, True, False]
    codes: dict[str, str] = {}
    for item in report.findings:  # the first finding of each block is its most specific
        codes.setdefault(item["block"], item["code"])
    assert codes["NN.AB"] == "column_scale" and codes["NN.B_RNN"] == "column_scale"
    assert "pre-activation" in report.findings[0]["message"]
    fixed_params, fixed_cost, fixed_grad = seed001_rnn(wrong_preactivation=False)
    assert gradcheck(fixed_cost, fixed_params, grad=fixed_grad, names=names).passed


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_minimum_is_stationary_not_flat(mode):
    """At the optimum the derivative is 0, yet the cost moves (quadratically): not 'flat'."""
    theta = np.zeros(5)
    report = gradcheck(lambda p: float(np.sum(p**2)), theta, grad=lambda p: 2 * p, mode=mode)
    assert report.passed and report.diagnoses == ["ok"]
    wrong = gradcheck(lambda p: float(np.sum(p**2)), theta, grad=lambda p: 2 * p + 1, mode=mode)
    assert not wrong.passed and "flat" not in wrong.diagnoses


def test_a_cost_too_noisy_to_check_fails_and_says_why():
    jitter = Jitter(1e-2)  # dropout left on
    w, x, y = layer_problem((4, 3))
    report = gradcheck(lambda p: jitter(layer_cost(p, x, y)), w, grad=lambda p: layer_grad(p, x, y))
    assert not report.passed
    assert report.findings[0]["code"] == "noisy" and report.findings[0]["details"]["too_noisy"]
    assert report.headline.startswith("Gradient not checked") and "too noisy" in report.headline
    assert report.blocks[0]["n_flagged"] == 0  # no element is blamed for the noise
