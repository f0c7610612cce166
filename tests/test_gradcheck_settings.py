"""Under the user's np.seterr and warnings-as-errors nbgrad still checks, and leaves both alone."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nbgrad.errors import EvaluationError
from nbgrad.gradcheck import gradcheck

MODES = st.sampled_from(["ignore", "warn", "raise", "call", "print", "log"])


def _zero_initialised():
    """A linear layer with zero-initialised weights and biases, and a ReLU kink at 0."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3))
    y = rng.normal(size=6)
    params = {"W": np.zeros(3), "b": np.zeros(1), "k": np.array([0.0, 1.5, -2.0])}

    def cost(p):
        r = x @ p["W"] + p["b"][0] - y
        relu = np.maximum(p["k"], 0)
        grad = {"W": x.T @ r, "b": np.array([r.sum()]), "k": (p["k"] > 0).astype(float)}
        return 0.5 * r @ r + relu.sum(), grad

    return cost, params


@settings(max_examples=12, deadline=None)
@given(
    divide=MODES, over=MODES, under=MODES, invalid=MODES, mode=st.sampled_from(["full", "fast"])
)
@example(divide="raise", over="raise", under="raise", invalid="raise", mode="full")
@example(divide="raise", over="raise", under="raise", invalid="raise", mode="fast")
def test_any_seterr_mode_and_warnings_as_errors(divide, over, under, invalid, mode) -> None:
    cost, params = _zero_initialised()
    before = {key: value.copy() for key, value in params.items()}
    old = np.seterr(divide=divide, over=over, under=under, invalid=invalid)
    old_call = np.seterrcall(lambda kind, flag: None)
    try:
        user = np.geterr()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            filters = list(warnings.filters)
            report = gradcheck(cost, params, mode=mode)
            assert warnings.filters == filters
        assert np.geterr() == user
    finally:
        np.seterr(**old)
        np.seterrcall(old_call)
    assert report.passed, str(report)
    for key, value in params.items():
        assert value.tobytes() == before[key].tobytes()


def test_the_users_cost_still_runs_under_their_settings() -> None:
    """nbgrad silences only its own arithmetic: an overflow in fun raises as in a plain call."""
    w = np.array([800.0])

    def cost(w):
        return float(np.exp(w[0])), np.exp(w)

    old = np.seterr(over="raise")
    try:
        with pytest.raises(EvaluationError, match="FloatingPointError"):
            gradcheck(cost, w)
    finally:
        np.seterr(**old)
