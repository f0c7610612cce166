"""The rule table names the bug of code written the way course assignments write it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nbgrad.gradcheck import diagnoses, gradcheck
from nbgrad.report.schema import validate_report

SCHEMA = Path(__file__).parents[1] / "nbgrad" / "report" / "schema.json"


def test_diagnosis_codes_are_the_schemas_enum():
    enum = json.loads(SCHEMA.read_text())["$defs"]["diagnosis"]["enum"]
    assert set(diagnoses.DIAGNOSES) == set(enum) and len(enum) == len(diagnoses.DIAGNOSES)
    assert {rule.code for rule in diagnoses.RULES} <= set(diagnoses.DIAGNOSES)


def _logistic(seed: int, lam: float, m: int = 8, d: int = 4):
    """A logistic-regression cost with an L2 term, CS229/ex2 style: (cost, grad)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, d))
    y = (rng.uniform(size=m) > 0.5).astype(float)

    def cost_function(theta, data_scale=1.0):
        h = 1 / (1 + np.exp(-X @ theta))
        J = -np.sum(y * np.log(h) + (1 - y) * np.log(1 - h)) / m + lam / 2 * theta @ theta
        grad = data_scale * X.T @ (h - y) / m + lam * theta
        return J, grad

    return cost_function, rng.normal(size=d)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    c=st.floats(-4, 4).filter(lambda c: abs(c) > 0.05 and abs(c - 1) > 0.01 and abs(c + 1) > 1e-3),
)
@example(seed=0, c=8.0)  # a forgotten 1/m, m = 8
@example(seed=1, c=0.5)
def test_any_factor_on_a_smooth_gradient_is_a_scale_with_that_factor(seed: int, c: float):
    cost, theta = _logistic(seed, lam=0.0)
    report = gradcheck(lambda t: (cost(t)[0], c * cost(t)[1]), theta)
    assert report.diagnoses == ["scale"]
    assert report.blocks[0]["scale"] == pytest.approx(c, rel=1e-4)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    c=st.floats(-4, 4).filter(lambda c: abs(c) > 0.2 and abs(c - 1) > 0.2 and abs(c + 1) > 1e-3),
)
@example(seed=0, c=8.0)  # "no simple relation" before: the data term off by exactly m
def test_a_factor_on_the_data_term_is_found_beside_an_l2_term(seed: int, c: float):
    cost, theta = _logistic(seed, lam=0.3)
    report = gradcheck(lambda t: cost(t, data_scale=c), theta)
    assert report.diagnoses == ["scale"], report.findings[0]["message"]
    assert report.blocks[0]["scale"] == pytest.approx(c, rel=1e-3)
    lead = report.findings[0]
    assert lead["details"]["lambda"] == pytest.approx(0.3, rel=1e-3)
    assert "regularisation term λθ, right in both" in lead["message"]
    assert lead["confidence"] > 0.5


def test_the_data_terms_sign_beside_an_l2_term_is_a_sign_flip():
    cost, theta = _logistic(2, lam=0.3)
    report = gradcheck(lambda t: cost(t, data_scale=-1.0), theta)
    assert report.diagnoses == ["sign_flip"]
    assert "sign of the data term" in report.findings[0]["message"]


def test_half_the_regularisation_factor_is_a_regulariser_with_the_wrong_factor():
    cost, theta = _logistic(3, lam=0.0)
    lam = 0.4

    def half(t):
        value, grad = cost(t)
        return value + lam / 2 * t @ t, grad + lam / 2 * t  # d/dθ λ/2·θᵀθ is λθ

    report = gradcheck(half, theta)
    lead = report.findings[0]
    assert report.diagnoses == ["regulariser"] and lead["code"] == "regulariser"
    assert lead["details"]["factor"] == pytest.approx(-lam / 2, rel=1e-4)
    assert "half" in lead["message"]


def softmax_loss(x, y, forget_label=False):
    """CS231n's layers.softmax_loss, with the assignment's most common slip as an option."""
    shifted_logits = x - np.max(x, axis=1, keepdims=True)
    Z = np.sum(np.exp(shifted_logits), axis=1, keepdims=True)
    log_probs = shifted_logits - np.log(Z)
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = probs.copy()
    if not forget_label:
        dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


def test_the_missing_minus_one_at_the_true_class_is_one_element_per_row():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 5))
    y = rng.integers(0, 5, size=9)
    y[:5] = np.arange(5)  # several columns, one label per row
    assert gradcheck(lambda s: softmax_loss(s, y), x).passed
    report = gradcheck(lambda s: softmax_loss(s, y, forget_label=True), x)
    block = report.blocks[0]
    assert block["diagnoses"] == ["one_per_row"]
    assert sorted(block["flagged"]) == sorted(int(i) * 5 + int(j) for i, j in enumerate(y))
    lead = report.findings[0]
    assert "the −1 at the true class is missing" in lead["message"]
    assert "1/N for N = 9" in lead["message"] and "factor of 9" not in report.headline
    assert lead["details"]["value"] == pytest.approx(1 / 9, rel=1e-6)
    validate_report(report.to_dict())


def test_a_clipped_gradient_says_where_it_was_clipped():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(6, 6)), rng.normal(size=6)

    def clipped(theta):
        r = X @ theta - y
        return 0.5 * r @ r, np.clip(X.T @ r, -5.0, 5.0)  # "gradient clipping" left in

    theta = 3 * rng.normal(size=6)
    assert np.sum(np.abs(X.T @ (X @ theta - y)) > 5) >= 2
    report = gradcheck(clipped, theta)
    lead = report.findings[0]
    assert report.diagnoses == ["clipped"], lead["message"]
    assert "clipped at 5" in lead["message"] and lead["details"]["bound"] == 5.0


def test_elements_zero_by_construction_are_never_counted_wrong():
    """A fixed dropout mask zeroes rows of the gradient: a 2× bug is wrong only where it can be."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 4))
    mask = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0])

    def cost(w):
        out = (np.tanh(x @ w) * mask[:, None]).sum()
        return out, 2 * x.T @ ((1 - np.tanh(x @ w) ** 2) * mask[:, None])

    w = rng.normal(size=(4, 3))
    w[:, 1] = 0.0
    for mode in ("full", "fast"):
        report = gradcheck(cost, w, mode=mode)
        block = report.blocks[0]
        assert report.diagnoses == ["scale"] and block["scale"] == pytest.approx(2.0)
        assert block["n_flagged"] <= block["checked"]


def relu_forward(x):
    """The aliasing mutant of CS231n's relu_forward: ``out = x`` writes into the input."""
    out = x
    out[out < 0] = 0
    return out, x


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_function_writing_into_its_input_is_drift_not_a_gradient_bug(mode):
    rng = np.random.default_rng(6)
    data = rng.normal(size=(5, 3))
    w = rng.normal(size=3)

    def loss(w):
        scores = data @ w
        hidden, _ = relu_forward(data)  # zeroes data's negatives: the next call differs
        return float(np.sum(scores**2) + np.sum(hidden)), 2 * data.T @ scores

    report = gradcheck(loss, w, mode=mode)
    assert not report.passed
    assert report.diagnoses == ["drift"]
    lead = report.findings[0]
    assert lead["code"] == "drift" and lead["details"]["kind"] == "first_call"
    assert "the cost at the same point changed between calls" in lead["message"]
    assert "your function writes into an array it reads" in lead["message"]
    assert "Gradient wrong" not in report.headline and "flat" not in report.headline.lower()
    assert report.blocks[0]["n_flagged"] == 0
    assert report.evaluations == 4  # detected before any verdict
    validate_report(report.to_dict())


def test_state_carried_between_calls_is_a_drift():
    """min-char-rnn's hprev kept in a global the cost updates: each call starts elsewhere."""
    rng = np.random.default_rng(8)
    Wxh, xs = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(4, 3))
    state = {"hprev": np.zeros(3)}

    def lossFun(Wxh):
        h = state["hprev"]
        loss = 0.0
        for x in xs:
            h = np.tanh(Wxh @ x + h)
            loss += float(np.sum(h**2))
        state["hprev"] = h
        return loss, np.zeros_like(Wxh)

    report = gradcheck(lossFun, Wxh, mode="fast")
    assert report.diagnoses == ["drift"] and report.findings[0]["details"]["kind"] == "trend"
    assert report.evaluations == 6


def _ex4(order: str, bias_bug: bool):
    """Ng's ex4 with the vector unrolled column by column (Octave's Theta1(:)), in numpy."""
    rng = np.random.default_rng(7)
    i, h, k, m, lam = 3, 5, 3, 5, 1.0
    X = rng.normal(size=(m, i))
    Y = np.eye(k)[rng.integers(0, k, size=m)]
    t1, t2 = rng.normal(size=(h, i + 1)) * 0.5, rng.normal(size=(k, h + 1)) * 0.5
    nn_params = np.concatenate([t1.ravel(order="F"), t2.ravel(order="F")])

    def nnCostFunction(p):
        Theta1 = p[: h * (i + 1)].reshape((h, i + 1), order="F")
        Theta2 = p[h * (i + 1):].reshape((k, h + 1), order="F")
        a1 = np.hstack([np.ones((m, 1)), X])
        a2 = np.hstack([np.ones((m, 1)), np.tanh(a1 @ Theta1.T)])
        a3 = a2 @ Theta2.T
        J = np.sum((a3 - Y) ** 2) / (2 * m)
        J += lam / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
        d3 = (a3 - Y) / m
        d2 = (d3 @ Theta2[:, 1:]) * (1 - a2[:, 1:] ** 2)
        Theta1_grad, Theta2_grad = d2.T @ a1, d3.T @ a2
        Theta1_grad[:, 1:] += lam / m * Theta1[:, 1:]
        Theta2_grad[:, 1:] += lam / m * Theta2[:, 1:]
        if bias_bug:
            Theta1_grad[:, 0] += lam / m * Theta1[:, 0]
        return J, np.concatenate([Theta1_grad.ravel(order="F"), Theta2_grad.ravel(order="F")])

    return nnCostFunction, nn_params, {"Theta1": (h, i + 1), "Theta2": (k, h + 1)}


def test_an_f_ordered_vector_read_in_c_order_is_pointed_to_order_f():
    cost, nn_params, blocks = _ex4("F", bias_bug=True)
    report = gradcheck(cost, nn_params, blocks=blocks)
    codes = [f["code"] for f in report.findings if f["block"] == "Theta1"]
    assert "fortran_order" in codes
    hint = next(f for f in report.findings if f["code"] == "fortran_order")
    assert hint["details"] == {"axis": "column", "index": 0} and "order='F'" in hint["message"]
    right = gradcheck(cost, nn_params, blocks=blocks, order="F")
    theta1 = right.block("Theta1")
    assert {tuple(w["multi_index"]) for w in theta1["worst"][:5]} == {(r, 0) for r in range(5)}
    lead = right.findings[0]
    assert lead["code"] == "regulariser" and lead["details"]["axis"] == "column"
    assert "Theta1[:, 0]" in lead["message"] and "bias column" in lead["message"]
    assert not any(f["code"] == "fortran_order" for f in right.findings)
    validate_report(right.to_dict())
    assert gradcheck(*_ex4("F", bias_bug=False)[:2], blocks=blocks, order="F").passed
