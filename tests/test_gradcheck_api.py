"""gradcheck's public behaviour: structures, in-place perturbation, restoration, seed 003."""

from __future__ import annotations

import numpy as np
import pytest

import nbgrad
from nbgrad.gradcheck import gradcheck
from nbgrad.report.gradcheck import GradcheckReport
from nbgrad.report.schema import validate_report
from tests.gradcheck_fixtures import (
    SEED003_BLOCKS,
    layer_cost,
    layer_grad,
    layer_problem,
    seed003_problem,
)


def test_package_attribute_is_the_function():
    assert nbgrad.gradcheck is gradcheck


def test_seed003_fixed_float64_reaches_1e_minus_9():
    cost, nn_params = seed003_problem(np.float64)
    report = gradcheck(cost, nn_params, blocks=SEED003_BLOCKS)
    assert isinstance(report, GradcheckReport)
    assert report.passed
    assert report.max_rel_error <= 1e-9
    assert report.diagnoses == ["ok"]
    validate_report(report.to_dict())


def test_seed003_bias_column_bug_is_located_and_explained():
    cost, nn_params = seed003_problem(np.float64, bias_bug=True)
    report = gradcheck(cost, nn_params, blocks=SEED003_BLOCKS)
    assert not report.passed
    theta1, theta2 = report.blocks
    assert theta1["passed"] and theta1["flagged"] == []
    assert theta2["flagged"] == [0, 6, 12]
    assert {tuple(w["multi_index"]) for w in theta2["worst"][:3]} == {(0, 0), (1, 0), (2, 0)}
    first = report.findings[0]
    assert first["code"] == "regulariser"
    assert first["details"]["axis"] == "column" and first["details"]["index"] == 0
    assert first["details"]["factor"] == pytest.approx(-2 * 3.0 / 5, rel=1e-6)
    assert "Theta2[:, 0]" in first["message"] and "bias column" in first["message"]
    validate_report(report.to_dict())


def test_seed003_float32_correct_passes_and_bug_is_still_found():
    cost, nn_params = seed003_problem(np.float32)
    assert gradcheck(cost, nn_params, blocks=SEED003_BLOCKS).passed
    cost, nn_params = seed003_problem(np.float32, bias_bug=True)
    report = gradcheck(cost, nn_params, blocks=SEED003_BLOCKS)
    assert report.block("Theta2")["flagged"] == [0, 6, 12]


def test_params_are_restored_bit_for_bit_including_negative_zero():
    w, x, y = layer_problem()
    w[0, 0] = -0.0
    before = w.tobytes()
    report = gradcheck(lambda p: layer_cost(p, x, y), w, grad=lambda p: layer_grad(p, x, y))
    assert report.passed
    assert w.tobytes() == before


def test_fun_sees_perturbations_through_a_closure_not_its_argument():
    """Seed 001's shape: the cost reads ``self.AB`` and ignores what it is passed."""

    class Net:
        pass

    net = Net()
    net.AB, x, y = layer_problem()

    def cost(_ignored):
        return layer_cost(net.AB, x, y)

    report = gradcheck(cost, [net.AB], grad=lambda p: [layer_grad(net.AB, x, y)], names=["NN.AB"])
    assert report.passed
    assert report.blocks[0]["name"] == "NN.AB"


def test_dict_and_tuple_params_mirror_gradient_structure():
    w1, x, y = layer_problem((4, 3))
    w2 = np.array([0.3, -0.2])

    def cost(p):
        return layer_cost(p["W1"], x, y) + np.sum(np.sin(p["b"]))

    def grad(p):
        return {"W1": layer_grad(p["W1"], x, y), "b": np.cos(p["b"])}

    report = gradcheck(cost, {"W1": w1, "b": w2}, grad=grad)
    assert report.passed
    assert [b["name"] for b in report.blocks] == ["W1", "b"]
    report = gradcheck(
        lambda p: cost({"W1": p[0], "b": p[1]}),
        (w1, w2),
        grad=lambda p: tuple(grad({"W1": p[0], "b": p[1]}).values()),
    )
    assert report.passed
    assert [b["name"] for b in report.blocks] == ["params[0]", "params[1]"]


def test_scalar_and_nd_params():
    theta = np.array(0.7)
    assert gradcheck(lambda t: (float(np.sin(t)), np.cos(t)), theta).passed
    cube = np.linspace(-1, 1, 24).reshape(2, 3, 4)
    report = gradcheck(lambda t: (np.sum(t**3), 3 * t**2), cube)
    assert report.passed
    assert report.blocks[0]["shape"] == [2, 3, 4]
    assert report.blocks[0]["heatmap"]["rows"] == 6


def test_non_contiguous_view_is_perturbed_in_place():
    base = np.linspace(0.1, 2.0, 20).reshape(4, 5)
    column = base[:, 1]  # strided view
    before = base.tobytes()
    report = gradcheck(lambda p: (float(np.sum(base**2)), 2 * p), column)
    assert report.passed
    assert base.tobytes() == before


def test_complex_parameters_use_dre_plus_i_dim_convention():
    z = np.array([0.5 + 0.25j, -1.0 + 2.0j, 0.1 - 0.3j])

    def cost(z):
        return float(np.sum(np.abs(z) ** 2 + z.real))

    report = gradcheck(cost, z, grad=lambda z: 2 * z.real + 1 + 2j * z.imag)
    assert report.passed
    assert report.blocks[0]["dtype"] == "complex128"
    assert "analytic_imag" in report.blocks[0]["worst"][0]
    wrong = gradcheck(cost, z, grad=lambda z: 2 * z.real + 1 - 2j * z.imag)
    assert not wrong.passed


def test_progress_is_called_with_growing_counts():
    w, x, y = layer_problem()
    calls = []
    report = gradcheck(
        lambda p: layer_cost(p, x, y),
        w,
        grad=lambda p: layer_grad(p, x, y),
        progress=lambda done, total: calls.append((done, total)),
    )
    done = [c[0] for c in calls]
    assert done == list(range(1, report.evaluations + 1))
    assert all(total >= count for count, total in calls)
    totals = [c[1] for c in calls]
    assert totals == sorted(totals)  # the plan only grows
    assert calls[0][1] >= 2 * w.size  # the element-wise plan is announced early
    assert calls[-1] == (report.evaluations, report.evaluations)


def test_label_and_mode_are_recorded():
    w, x, y = layer_problem()
    report = gradcheck(
        lambda p: layer_cost(p, x, y), w, grad=lambda p: layer_grad(p, x, y), label="layer"
    )
    document = report.to_dict()
    assert document["label"] == "layer" and document["mode"] == "full"
    assert document["status"] == "pass"
    assert document["step_curve"]["block"] == "params"
    assert len(document["step_curve"]["steps"]) == len(document["step_curve"]["numeric"])


def test_engine_imports_neither_ipython_nor_widgets():
    import subprocess
    import sys

    code = (
        "import sys, nbgrad.gradcheck, nbgrad.report.gradcheck;"
        "print(sorted(m for m in ('IPython', 'ipywidgets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_host_transfers_do_not_scale_with_the_number_of_elements(monkeypatch, mode):
    """On CuPy every ``to_numpy`` is a device-to-host copy: only bulk ones are allowed."""
    import nbgrad.backend
    from nbgrad.gradcheck import analytic, api, fast, steps

    transfers = []
    original = nbgrad.backend.to_numpy

    def counted(x):
        transfers.append(getattr(x, "size", 1))
        return original(x)

    for module in (analytic, api, fast, steps):
        monkeypatch.setattr(module, "to_numpy", counted)
    rng = np.random.default_rng(0)
    theta = rng.normal(size=400)
    report = gradcheck(lambda t: float(np.sum(np.sin(t))), theta, grad=np.cos, mode=mode)
    assert report.passed
    assert len(transfers) <= 12
    assert report.evaluations > len(transfers)
