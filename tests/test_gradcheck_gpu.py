"""CuPy parameters: perturbed and evaluated on the device, restored bit for bit (GPU only)."""

from __future__ import annotations

import numpy as np
import pytest

from nbgrad.gradcheck import gradcheck
from nbgrad.report.schema import validate_report

pytestmark = pytest.mark.gpu
cp = pytest.importorskip("cupy")


def _device_problem(n=(6, 5), dtype=np.float64):
    rng = np.random.default_rng(0)
    w = cp.asarray(rng.normal(size=n).astype(dtype))
    x = cp.asarray(rng.normal(size=(8, n[0])).astype(dtype))

    def cost(p):
        return cp.sum(cp.tanh(x @ p) ** 2) / 8  # a 0-d device array: read as one scalar

    def grad(p):
        t = cp.tanh(x @ p)
        return x.T @ (2 * t * (1 - t**2)) / 8

    return w, cost, grad


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_correct_gradient_passes_and_is_restored(mode, dtype):
    w, cost, grad = _device_problem(dtype=dtype)
    before = w.get().tobytes()
    report = gradcheck(cost, w, grad=grad, mode=mode)
    assert report.passed, report.headline
    assert report.blocks[0]["device"] == f"cuda:{w.device.id}"
    assert w.get().tobytes() == before
    validate_report(report.to_dict())


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_cupy_wrong_element_is_flagged(mode):
    w, cost, grad = _device_problem()

    def wrong(p):
        g = grad(p)
        g[2, 3] += 0.5
        return g

    report = gradcheck(cost, w, grad=wrong, mode=mode)
    assert report.blocks[0]["flagged"] == [2 * 5 + 3]


def test_cupy_interrupt_restores_device_memory():
    w, cost, grad = _device_problem()
    before = w.get().tobytes()
    calls = 0

    def interrupted(p):
        nonlocal calls
        calls += 1
        if calls == 9:
            raise KeyboardInterrupt
        return cost(p)

    with pytest.raises(KeyboardInterrupt):
        gradcheck(interrupted, w, grad=grad)
    assert w.get().tobytes() == before


def test_cupy_complex_parts_are_device_views():
    rng = np.random.default_rng(1)
    z = cp.asarray(rng.normal(size=7) + 1j * rng.normal(size=7))
    report = gradcheck(lambda p: cp.sum(cp.abs(p) ** 2), z, grad=lambda p: 2 * p.real + 2j * p.imag)
    assert report.passed
