"""The headline is the one sentence every renderer shows: it must name the real problem."""

from __future__ import annotations

import numpy as np

from nbgrad import gradcheck


def _sign_cost(p: dict[str, np.ndarray]) -> float:
    """Seed 002's trouble in two lines: the cosine of two scalars is their product's sign."""
    u, w = np.tanh(p["W"].sum()), np.tanh(p["v"].sum())
    return float(u * w / abs(u * w))


def test_a_flat_cost_is_named_once_for_all_blocks_and_not_blamed_on_the_gradient() -> None:
    params = {"W": np.array([0.3, -0.2, 0.4]), "v": np.array([0.5, 0.1])}
    report = gradcheck(_sign_cost, params, grad=lambda p: {k: 0 * a for k, a in p.items()})
    assert not report.passed
    assert report.headline == (
        "Cost flat — W, v: the cost does not change with them, "
        "so gradient descent cannot train them."
    )


def test_a_flat_block_beside_a_wrong_one_keeps_the_gradient_verdict() -> None:
    params = {"W": np.array([0.3, -0.2, 0.4]), "v": np.array([0.5, 0.1]), "b": np.array([1.0, 2.0])}

    def cost(p: dict[str, np.ndarray]) -> float:
        return _sign_cost(p) + float(np.sum(p["b"] ** 2))

    def grad(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"W": np.zeros(3), "v": np.zeros(2), "b": -2 * p["b"]}  # sign error on b

    report = gradcheck(cost, params, grad=grad)
    assert report.headline.startswith("Gradient wrong")
    assert "W, v: the cost does not change with them" in report.headline
    assert "b: 2 of 2 element(s) wrong" in report.headline
