"""The report document: the contract of docs/report-schema.md, JSON-safe, honest counts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nbgrad.gradcheck import gradcheck
from nbgrad.report.base import MIME_TYPE, Report
from nbgrad.report.gradcheck import GradcheckReport
from nbgrad.report.schema import validate_report
from tests.gradcheck_fixtures import (
    SEED003_BLOCKS,
    layer_cost,
    layer_grad,
    layer_problem,
    seed003_problem,
)


def _reports():
    cost, nn_params = seed003_problem(bias_bug=True)
    yield gradcheck(cost, nn_params, blocks=SEED003_BLOCKS, label="nnCost")
    yield gradcheck(cost, nn_params, blocks=SEED003_BLOCKS, mode="fast")
    w, x, y = layer_problem((60, 70))
    yield gradcheck(
        lambda p: layer_cost(p, x, y), w, grad=lambda p: layer_grad(p, x, y) * 1.001, mode="fast"
    )
    yield gradcheck(
        lambda p: float(np.sum(np.abs(p) ** 2)),
        np.array([1 + 2j, 0.5j]),
        grad=lambda p: 2 * p.conj(),  # wrong convention on purpose
    )
    yield gradcheck(lambda p: (float(np.sum(p)), np.full(3, np.nan)), np.zeros(3))


@pytest.mark.parametrize("report", list(_reports()), ids=["full", "fast", "big", "cplx", "nan"])
def test_every_report_follows_the_schema_and_is_strict_json(report):
    document = report.to_dict()
    validate_report(document)
    json.dumps(document, allow_nan=False)
    assert document["status"] == ("pass" if report.passed else "fail")
    for block in document["blocks"]:
        assert block["flagged"] == sorted(block["flagged"])
        assert block["n_flagged"] >= len(block["flagged"])
        assert block["passed"] == (block["diagnoses"] in (["ok"], ["noisy"], ["nondifferentiable"]))


def test_nan_analytic_gradient_fails_with_null_error():
    report = gradcheck(lambda p: (float(np.sum(p)), np.full(3, np.nan)), np.zeros(3))
    assert not report.passed
    assert report.blocks[0]["n_flagged"] == 3
    assert report.max_rel_error is None
    assert report.findings[0]["code"] == "nonfinite_analytic"


def test_complex_gradient_in_the_other_convention_is_recognised():
    z = np.array([1 + 2j, 0.5j, -0.3 + 0.1j])
    report = gradcheck(lambda p: float(np.sum(np.abs(p) ** 2)), z, grad=lambda p: 2 * p.conj())
    assert not report.passed
    assert report.findings[0]["code"] == "conjugate"


def test_evaluations_count_every_call_of_fun():
    w, x, y = layer_problem()
    calls = 0

    def cost(p):
        nonlocal calls
        calls += 1
        return layer_cost(p, x, y)

    report = gradcheck(cost, w, grad=lambda p: layer_grad(p, x, y))
    assert report.evaluations == calls
    # base + 3 noise repeats + 2 per element + step curve; refinement only where needed
    assert report.evaluations >= 1 + 3 + 2 * w.size + 24


def test_big_block_heatmap_is_pooled():
    report = list(_reports())[2]
    heat = report.blocks[0]["heatmap"]
    assert heat["pooled"] and heat["rows"] <= 48 and heat["cols"] <= 48


def test_step_curve_is_a_v_for_a_correct_gradient_and_flat_for_a_wrong_one():
    w, x, y = layer_problem()
    right = gradcheck(lambda p: layer_cost(p, x, y), w, grad=lambda p: layer_grad(p, x, y))
    curve = right.to_dict()["step_curve"]
    assert len(curve["steps"]) == 12 and curve["steps"] == sorted(curve["steps"], reverse=True)
    errors = np.array(curve["rel_errors"])
    best = int(np.argmin(errors))
    assert 0 < best < 11
    assert errors[best] < 1e-3 * min(errors[0], errors[-1])
    wrong = gradcheck(lambda p: layer_cost(p, x, y), w, grad=lambda p: 1.5 * layer_grad(p, x, y))
    errors = np.array(wrong.to_dict()["step_curve"]["rel_errors"])
    assert np.all(errors[2:-2] > 0.3)  # the bug does not depend on the step


def test_report_object_api():
    cost, nn_params = seed003_problem(bias_bug=True)
    report = gradcheck(cost, nn_params, blocks=SEED003_BLOCKS)
    assert isinstance(report, Report) and report.kind == "gradcheck"
    assert report.diagnoses == ["regulariser"]
    assert report.block("Theta2")["shape"] == [3, 6]
    with pytest.raises(KeyError, match="Theta1, Theta2"):
        report.block("Theta3")
    bundle = report._repr_mimebundle_()
    assert bundle[MIME_TYPE]["kind"] == "gradcheck"
    assert "Theta2" in repr(report)
    # The accessors hand out copies: the report cannot be edited through them.
    report.blocks[0]["name"] = "changed"
    assert report.blocks[0]["name"] == "Theta1"


def test_report_round_trips_through_json():
    cost, nn_params = seed003_problem()
    document = gradcheck(cost, nn_params, blocks=SEED003_BLOCKS).to_dict()
    again = GradcheckReport(json.loads(json.dumps(document)))
    assert again.to_dict() == document
