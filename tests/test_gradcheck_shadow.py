"""The float64 shadow tells float16/float32 rounding from a bug when the cost follows its dtype."""

from __future__ import annotations

import numpy as np

from nbgrad.gradcheck import gradcheck
from nbgrad.report.schema import validate_report
from tests.gradcheck_fixtures import layer_cost, layer_grad, layer_problem


def _layer(seed, factor=1.0, cast=None):
    w, x, y = layer_problem((30, 20), np.float16, seed=seed)

    def cost(v):
        if cast is not None:  # a cost computed in float16 whatever it is given
            v = v.astype(cast)
        return layer_cost(v, x, y), factor * layer_grad(v, x, y)

    return w, cost


def test_an_element_missed_by_rounding_is_settled_by_the_float64_truth():
    w, cost = _layer(13)  # one element misses by 6.8 % at a tolerance of 6.2 %
    report = gradcheck(cost, w, seed=13)
    assert report.passed and report.blocks[0]["n_flagged"] == 0
    (shadow,) = [f for f in report.findings if f["code"] == "float64_shadow"]
    assert shadow["details"]["agreed"] == shadow["details"]["elements"] >= 1
    assert "float16 differences alone could not tell" in shadow["message"]
    validate_report(report.to_dict())


def test_a_real_bug_stays_wrong_against_float64():
    w, cost = _layer(13, factor=2.0)
    report = gradcheck(cost, w, seed=13)
    assert not report.passed and report.blocks[0]["n_flagged"] > 0
    (shadow,) = [f for f in report.findings if f["code"] == "float64_shadow"]
    assert shadow["details"]["agreed"] == 0 and "wrong against float64 too" in shadow["message"]


def test_a_cost_that_does_not_follow_its_parameters_dtype_gets_no_shadow():
    w, cost = _layer(13, cast=np.float16)
    before = w.tobytes()
    report = gradcheck(cost, w, seed=13)
    assert not any(f["code"] == "float64_shadow" for f in report.findings)
    assert w.tobytes() == before
