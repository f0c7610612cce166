"""Gradient checks of CuPy parameters: perturbed and evaluated on the device, restored bit for bit.

GPU only (marker ``gpu``; skipped without CuPy and a CUDA device).  The cost
and gradient are written the way a CuPy user writes them; the cost returns a
0-d device array, which nbgrad reads as one scalar per evaluation.
"""

from __future__ import annotations

import numpy as np
import pytest
from gpu_support import cp, host_copies, same_bits

from nbgrad import gradcheck
from nbgrad.report.schema import validate_report

pytestmark = pytest.mark.gpu


def tanh_layer(shape=(6, 5), dtype=np.float64, seed=0, factor=1.0):
    """``(W, cost, grad)`` of C = ½‖tanh(x W) − y‖² / m on the device (``factor`` scales grad)."""
    rng = np.random.default_rng(seed)
    w = cp.asarray(rng.normal(size=shape).astype(dtype))
    x = cp.asarray(rng.normal(size=(6, shape[0])).astype(dtype))
    y = cp.asarray(rng.normal(size=(6, shape[1])).astype(dtype))

    def cost(p):
        return 0.5 * cp.sum((cp.tanh(x @ p) - y) ** 2) / x.shape[0]

    def grad(p):
        out = cp.tanh(x @ p)
        return factor * (x.T @ ((out - y) * (1 - out**2)) / x.shape[0])

    return w, cost, grad


# float16 at the shapes/seeds that the CPU suite holds correct on numpy
# (tests/test_gradcheck_user.py): rounding on the GPU differs, the verdict must not.
CORRECT = [
    (np.float64, (6, 5), 0, "full"), (np.float64, (6, 5), 0, "fast"),
    (np.float32, (6, 5), 0, "full"), (np.float32, (10, 8), 7, "fast"),
    (np.float16, (30, 20), 13, "full"), (np.float16, (30, 20), 1, "fast"),
]


@pytest.mark.parametrize(("dtype", "shape", "seed", "mode"), CORRECT)
def test_correct_device_gradient_passes_and_parameters_keep_their_bits(dtype, shape, seed, mode):
    w, cost, grad = tanh_layer(shape, dtype, seed)
    before = w.copy()
    report = gradcheck(cost, w, grad=grad, mode=mode, seed=seed)
    assert report.passed, repr(report)
    block = report.blocks[0]
    assert block["n_flagged"] == 0 and block["dtype"] == np.dtype(dtype).name
    assert block["device"] == f"cuda:{w.device.id}"
    assert same_bits(w, before)
    validate_report(report.to_dict())


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_wrong_device_gradient_fails_in_every_dtype(dtype, mode):
    shape, seed = ((30, 20), 3) if dtype == np.float16 else ((6, 5), 0)
    w, cost, grad = tanh_layer(shape, dtype, seed, factor=2.0)
    before = w.copy()
    report = gradcheck(cost, w, grad=grad, mode=mode, seed=seed)
    assert not report.passed and report.blocks[0]["n_flagged"] > 0
    assert same_bits(w, before)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_one_wrong_element_is_named(mode):
    w, cost, grad = tanh_layer()

    def wrong(p):
        g = grad(p)
        g[2, 3] += 0.5
        return g

    report = gradcheck(cost, w, grad=wrong, mode=mode)
    assert report.blocks[0]["flagged"] == [2 * 5 + 3]


def test_perturbation_is_in_place_on_the_users_device_array():
    w, cost, grad = tanh_layer()
    original = w.copy()
    seen = []

    def watching(p):
        seen.append((p is w, int(cp.count_nonzero(p != original))))
        return cost(p)

    gradcheck(watching, w, grad=grad)
    assert all(same for same, _ in seen), "the cost was handed something other than the array"
    moved = [n for _, n in seen]
    assert moved.count(1) >= 2 * w.size  # θᵢ ± h, element by element, in the user's memory
    assert same_bits(w, original)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_no_host_round_trip_per_element(mode):
    """Copies to the host beyond one per cost call do not grow with the number of elements."""
    copies_on_top = {}
    for shape in ((8, 8), (64, 16)):
        w, cost, grad = tanh_layer(shape)
        calls = 0

        def counted(p, cost=cost):
            nonlocal calls
            calls += 1
            return cost(p)

        with host_copies() as copies:
            report = gradcheck(counted, w, grad=grad, mode=mode)
        assert report.passed
        assert copies[0] >= calls, "each cost value must come to the host: the counter is broken"
        copies_on_top[w.size] = copies[0] - calls
    small, large = copies_on_top[64], copies_on_top[1024]
    assert large - small < (1024 - 64) // 8, (
        f"{small} copies besides the cost values at 64 elements, {large} at 1024: "
        "the checker moves data to the host per element")


def test_the_copy_counter_counts_device_to_host_copies():
    a = cp.arange(5.0)
    with host_copies() as copies:
        b = a * 2 + 1  # stays on the device
        a.get()
        float(b[0])
        cp.asnumpy(b)
        b[3].item()
    assert copies[0] == 4


@pytest.mark.timeout(120)
def test_fast_mode_on_ten_million_device_parameters():
    w = cp.random.default_rng(0).standard_normal(10**7)
    before = w.copy()
    calls = 0

    def cost(p):
        nonlocal calls
        calls += 1
        return cp.sum(cp.tanh(p) ** 2)

    def grad(p):
        t = cp.tanh(p)
        return 2 * t * (1 - t * t)

    report = gradcheck(cost, w, grad=grad, mode="fast")
    assert report.passed and calls <= 32, (report.headline, calls)
    assert same_bits(w, before)

    def wrong(p):
        g = grad(p)
        g[7_654_321] += 0.5
        return g

    report = gradcheck(cost, w, grad=wrong, mode="fast")
    assert not report.passed and report.blocks[0]["flagged"] == [7_654_321]
    assert same_bits(w, before)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, ValueError])
def test_interrupt_or_exception_leaves_device_parameters_bit_for_bit(stop):
    w, cost, grad = tanh_layer()
    before = w.copy()
    calls = 0

    def stopping(p):
        nonlocal calls
        calls += 1
        if calls == 9:
            raise stop("stop at the ninth evaluation")
        return cost(p)

    with pytest.raises(Exception if stop is ValueError else KeyboardInterrupt):
        gradcheck(stopping, w, grad=grad)
    assert calls == 9 and same_bits(w, before)


def test_complex_device_parameters_are_checked_through_their_parts():
    rng = np.random.default_rng(1)
    z = cp.asarray(rng.normal(size=7) + 1j * rng.normal(size=7))
    before = z.copy()
    report = gradcheck(lambda p: cp.sum(cp.abs(p) ** 2), z, grad=lambda p: 2 * p.real + 2j * p.imag)
    assert report.passed and same_bits(z, before)
