"""Bad input and failures inside ``fun``: clear nbgrad errors, parameters left bit for bit."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbgrad.errors import (
    CostError,
    EvaluationError,
    GradientError,
    NbgradError,
    ParameterError,
    UsageError,
)
from nbgrad.gradcheck import gradcheck
from tests.gradcheck_fixtures import SEED003_BLOCKS, layer_cost, layer_grad, layer_problem


def _layer():
    w, x, y = layer_problem()
    return w, (lambda p: layer_cost(p, x, y)), (lambda p: layer_grad(p, x, y))


def test_integer_parameter_is_named_with_the_fix():
    with pytest.raises(ParameterError) as info:
        gradcheck(lambda p: 0.0, {"W": np.arange(6).reshape(2, 3)}, grad=lambda p: p)
    message = str(info.value)
    assert "params['W'] is int64" in message
    assert "W.astype(np.float64)" in message


def test_non_array_parameter_is_refused():
    with pytest.raises(ParameterError, match=r"params\[1\] is list"):
        gradcheck(lambda p: 0.0, [np.zeros(2), [1.0, 2.0]], grad=lambda p: p)
    with pytest.raises(ParameterError, match="params is float"):
        gradcheck(lambda p: 0.0, 3.0)


def test_read_only_array_is_refused_clearly():
    w, cost, grad = _layer()
    w.flags.writeable = False
    with pytest.raises(ParameterError, match="read-only"):
        gradcheck(cost, w, grad=grad)


def test_non_scalar_cost_names_its_shape():
    w, _, grad = _layer()
    with pytest.raises(CostError, match=r"shape \(4, 3\)"):
        gradcheck(lambda p: p * 2, w, grad=grad)


def test_one_element_cost_array_is_accepted():
    """Seed 001's cost is ``0.5*((C_real - C)**2)`` with C of shape (1,)."""
    w, cost, grad = _layer()
    assert gradcheck(lambda p: np.array([cost(p)]), w, grad=grad).passed


def test_nan_cost_at_a_perturbed_point_names_the_element_and_restores():
    w, cost, grad = _layer()
    before = w.tobytes()
    original = w[1, 2]

    def sometimes_nan(p):
        return float("nan") if p[1, 2] != original else cost(p)

    with pytest.raises(CostError) as info:
        gradcheck(sometimes_nan, w, grad=grad)
    assert "params[1, 2]" in str(info.value) and "nan" in str(info.value)
    assert w.tobytes() == before


def test_nan_cost_at_the_base_point():
    w, _, grad = _layer()
    with pytest.raises(CostError, match="unperturbed"):
        gradcheck(lambda p: float("inf"), w, grad=grad)


def test_gradient_of_wrong_shape_names_block_and_shapes():
    w, cost, _ = _layer()
    with pytest.raises(GradientError) as info:
        gradcheck(lambda p: cost(p["W"]), {"W": w}, grad=lambda p: {"W": np.zeros(5)})
    assert "params['W']" in str(info.value)
    assert "(5,)" in str(info.value) and "(4, 3)" in str(info.value)


def test_gradient_of_wrong_structure():
    w, cost, _ = _layer()
    with pytest.raises(GradientError, match="dict with the same keys"):
        gradcheck(lambda p: cost(p["W"]), {"W": w}, grad=lambda p: [np.zeros((4, 3))])
    with pytest.raises(GradientError, match=r"no entry for 'b'"):
        gradcheck(lambda p: cost(p["W"]), {"W": w, "b": np.zeros(2)}, grad=lambda p: {"W": w})
    with pytest.raises(GradientError, match="list/tuple of 2 arrays"):
        gradcheck(lambda p: cost(p[0]), [w, w.copy()], grad=lambda p: [w])


def test_missing_gradient_says_how_to_provide_one():
    w, cost, _ = _layer()
    with pytest.raises(GradientError, match=r"return \(cost, grad\)"):
        gradcheck(cost, w)


def test_fun_raising_at_a_perturbed_point_is_chained_and_named():
    w, cost, grad = _layer()
    before = w.tobytes()
    original = w[3, 0]

    def fragile(p):
        if p[3, 0] != original:
            raise ZeroDivisionError("boom")
        return cost(p)

    with pytest.raises(EvaluationError) as info:
        gradcheck(fragile, w, grad=grad)
    assert "params[3, 0]" in str(info.value) and "ZeroDivisionError: boom" in str(info.value)
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert w.tobytes() == before


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("k", [1, 2, 7, 30])
def test_keyboard_interrupt_on_kth_call_reraises_and_restores(mode, k):
    rng = np.random.default_rng(k)
    params = {"W": rng.normal(size=(5, 4)), "z": rng.normal(size=3) + 1j * rng.normal(size=3)}
    before = _bytes(params)
    cost = _interrupted_on_call(k, lambda p: np.sum(p["W"] ** 2) + np.sum(np.abs(p["z"]) ** 2))

    def grad(p):
        return {"W": 3 * p["W"], "z": 2 * p["z"]}  # wrong on purpose: the check runs long

    with pytest.raises(KeyboardInterrupt):
        gradcheck(cost, params, grad=grad, mode=mode)
    assert _bytes(params) == before


def _bytes(params: dict) -> dict:
    return {name: value.tobytes() for name, value in params.items()}


def _interrupted_on_call(k: int, cost):
    """``cost`` as a float, except that its k-th call raises KeyboardInterrupt (Stop pressed)."""
    calls = 0

    def interrupted(p):
        nonlocal calls
        calls += 1
        if calls == k:
            raise KeyboardInterrupt
        return float(cost(p))

    return interrupted


def test_blocks_sizes_must_add_up():
    with pytest.raises(UsageError) as info:
        gradcheck(lambda p: 0.0, np.zeros(40), grad=lambda p: p, blocks=SEED003_BLOCKS)
    assert "38" in str(info.value) and "40" in str(info.value)
    assert "Theta1 (5, 4) = 20" in str(info.value)


def test_blocks_must_be_a_dict_of_shapes():
    with pytest.raises(UsageError, match="dict of names to shapes"):
        gradcheck(lambda p: 0.0, np.zeros(38), grad=lambda p: p, blocks=[("Theta1", (5, 4))])
    with pytest.raises(UsageError, match=r"blocks\['W'\] = 'big'"):
        gradcheck(lambda p: 0.0, np.zeros(38), grad=lambda p: p, blocks={"W": "big"})


def test_blocks_need_a_flat_array():
    with pytest.raises(UsageError, match="one flat parameter vector"):
        gradcheck(lambda p: 0.0, [np.zeros(38)], grad=lambda p: p, blocks=SEED003_BLOCKS)


def test_bad_options():
    w, cost, grad = _layer()
    with pytest.raises(UsageError, match="mode='slow'"):
        gradcheck(cost, w, grad=grad, mode="slow")
    with pytest.raises(UsageError, match="rtol"):
        gradcheck(cost, w, grad=grad, rtol=-1)
    with pytest.raises(UsageError, match="names="):
        gradcheck(cost, [w], grad=lambda p: [grad(p[0])], names=["a", "b"])
    with pytest.raises(UsageError, match="seed="):
        gradcheck(cost, w, grad=grad, mode="fast", seed=-1)
    with pytest.raises(UsageError, match="label="):
        gradcheck(cost, w, grad=grad, label=3)


def test_grad_callable_raising_is_reported():
    w, cost, _ = _layer()

    def broken(p):
        raise ValueError("shapes")

    with pytest.raises(EvaluationError, match="grad raised ValueError: shapes"):
        gradcheck(cost, w, grad=broken)


def test_every_error_is_an_nbgrad_error():
    for cls in (ParameterError, CostError, GradientError, EvaluationError, UsageError):
        assert issubclass(cls, NbgradError)


def test_non_finite_parameter_is_named_with_its_index():
    w, cost, grad = _layer()
    w[2, 1] = np.nan
    with pytest.raises(ParameterError, match=r"params\[2, 1\] is nan"):
        gradcheck(cost, w, grad=grad)


def test_a_cost_that_updates_its_own_parameters_is_refused_and_undone():
    """Seed 001's shape called directly: backprop and the weight update fused into one call."""
    w, cost, grad = _layer()
    before = w.tobytes()

    def fused(p):
        value = cost(p)
        p -= 0.01 * grad(p)  # the update the user forgot is inside
        return value

    with pytest.raises(EvaluationError, match="--update-lr"):
        gradcheck(fused, w, grad=grad)
    assert w.tobytes() == before


@settings(max_examples=30, deadline=None)
@given(
    k=st.integers(1, 80),
    mode=st.sampled_from(["full", "fast"]),
    dtype=st.sampled_from([np.float16, np.float32, np.float64, np.complex128]),
    seed=st.integers(0, 2**16),
)
def test_interrupt_at_any_call_restores_every_byte(k, mode, dtype, seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(3, 4))
    if np.dtype(dtype).kind == "c":
        values = values + 1j * rng.normal(size=(3, 4))
    params = {"W": values.astype(dtype), "b": np.array([-0.0, 0.5])}
    buffer = values.astype(dtype) * 2  # a strided view of another buffer is a block of its own
    params["W_even_columns"] = buffer[:, ::2]
    before = _bytes(params)
    cost = _interrupted_on_call(k, lambda p: np.sum(np.abs(p["W"]) ** 2) + np.sum(p["b"] ** 3))

    def grad(p):  # wrong on purpose, so that the check runs long
        return {"W": p["W"], "b": p["b"], "W_even_columns": np.zeros_like(p["W_even_columns"])}

    with contextlib.suppress(KeyboardInterrupt):  # k may exceed the calls the check makes
        gradcheck(cost, params, grad=grad, mode=mode)
    assert _bytes(params) == before
