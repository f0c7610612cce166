"""Numerical properties of the engine, checked on generated problems (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbgrad.gradcheck import gradcheck
from nbgrad.gradcheck.compare import relative_error
from nbgrad.gradcheck.heatmap import DIGITS, MAX_CELLS, heatmap
from nbgrad.gradcheck.steps import machine_epsilon, representable, tolerance

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)
values = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)


def smooth_problem(theta0: np.ndarray, seed: int):
    """C(θ) = Σ cᵢ·sin(θᵢ) + ½(Σ dᵢθᵢ)² : coupled, curved, with a known gradient."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(0.5, 2.0, theta0.shape)
    d = rng.uniform(-1.0, 1.0, theta0.shape)

    def cost(theta):
        return float(np.sum(c * np.sin(theta)) + 0.5 * np.sum(d * theta) ** 2)

    def grad(theta):
        return c * np.cos(theta) + np.sum(d * theta) * d

    return cost, grad


@SETTINGS
@given(theta=hnp.arrays(np.float64, shapes, elements=values), seed=st.integers(0, 2**16))
@example(  # found by hypothesis: [0, 4] has |g| = 1.5e-4 and an absolute error of 2e-12
    theta=np.array([[2.37890625, 0.0, 0.0, -0.4296875, -1.28399389],
                    [0.0, 0.0, 0.0, 3.0, 0.0],
                    [0.0, -1.0078125, 0.0, 0.0, 1.890625]]),
    seed=18952,
)
def test_correct_float64_gradient_passes_with_tiny_error_and_is_restored(theta, seed):
    """Every element agrees to 1e-8, or to within the cost's rounding (≤ 1 standard error)."""
    cost, grad = smooth_problem(theta, seed)
    before = theta.tobytes()
    report = gradcheck(cost, theta, grad=grad)
    assert report.passed, report.headline
    for element in report.blocks[0]["worst"]:
        assert element["rel_error"] <= 1e-8 or element["standard_errors"] <= 1, element
    assert theta.tobytes() == before


@SETTINGS
@given(
    theta=hnp.arrays(np.float64, shapes, elements=values),
    seed=st.integers(0, 2**16),
    where=st.floats(0, 1, exclude_max=True),
    size=st.floats(1e-3, 10),
    sign=st.sampled_from([-1.0, 1.0]),
)
def test_a_planted_error_is_flagged_exactly_where_it_is(theta, seed, where, size, sign):
    cost, grad = smooth_problem(theta, seed)
    index = int(where * theta.size)

    def wrong(t):
        g = grad(t)
        g.reshape(-1)[index] += sign * size * max(abs(g.reshape(-1)[index]), 1.0)
        return g

    report = gradcheck(cost, theta, grad=wrong)
    assert report.blocks[0]["flagged"] == [index]


@SETTINGS
@given(
    theta=hnp.arrays(np.float32, st.integers(1, 30), elements=st.floats(-3, 3, width=32)),
    seed=st.integers(0, 2**16),
)
def test_correct_float32_gradient_passes(theta, seed):
    cost, grad = smooth_problem(theta, seed)
    report = gradcheck(lambda t: np.float32(cost(t)), theta, grad=grad)
    assert report.passed, report.headline


@SETTINGS
@given(
    theta=hnp.arrays(np.float64, st.integers(2, 12), elements=values),
    seed=st.integers(0, 2**16),
    c=st.one_of(
        st.floats(-8, -1.2), st.floats(-0.8, 0.8).filter(lambda v: abs(v) > 0.05), st.floats(1.2, 8)
    ),
)
def test_scale_factor_is_recovered(theta, seed, c):
    cost, grad = smooth_problem(theta, seed)
    report = gradcheck(cost, theta, grad=lambda t: c * grad(t))
    significant = np.abs(grad(theta)) > 1e-3
    if significant.sum() >= 2:
        assert report.diagnoses == ["scale"]
        assert abs(report.blocks[0]["scale"] - c) <= 1e-5 * abs(c)


@settings(max_examples=200, deadline=None)
@given(
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    theta=st.floats(-1e4, 1e4, allow_nan=False, allow_subnormal=False),
    h=st.floats(1e-12, 1.0),
)
@example(dtype=np.float32, theta=5.835174473403761e-21, h=6.103515625e-05)
def test_steps_are_exactly_representable_and_never_zero(dtype, theta, h):
    base = np.array([theta], dtype=dtype)
    steps = representable(base, np.array([h]))
    assert steps.h_plus[0] > 0 and steps.h_minus[0] > 0
    # θ + h₊ is the perturbed point to float64 rounding (exactly, unless θ is below the
    # last place of h in float64, as θ = 6e-21 beside h = 6e-5 is): the step is the real one.
    ulp = np.spacing(np.abs(np.float64(steps.plus[0])))
    assert abs(np.float64(base[0]) + steps.h_plus[0] - np.float64(steps.plus[0])) <= ulp
    ulp = np.spacing(np.abs(np.float64(steps.minus[0])))
    assert abs(np.float64(base[0]) - steps.h_minus[0] - np.float64(steps.minus[0])) <= ulp


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(-1e6, 1e6, allow_nan=False),
    n=st.floats(-1e6, 1e6, allow_nan=False),
    floor=st.floats(0, 1e3),
)
def test_relative_error_is_bounded_symmetric_and_zero_only_when_equal(a, n, floor):
    forward = relative_error(np.array([a]), np.array([n]), np.array([floor]))[0]
    backward = relative_error(np.array([n]), np.array([a]), np.array([floor]))[0]
    assert forward == backward
    assert 0 <= forward <= 2
    assert (forward == 0) == (a == n)


def test_relative_error_floor_makes_near_zero_pairs_pass():
    tiny = relative_error(np.array([1e-14]), np.array([-1e-14]), np.array([1e-6]))
    assert tiny[0] < 1e-7
    nan = relative_error(np.array([np.nan]), np.array([1.0]), np.array([0.0]))
    assert nan[0] == np.inf


def test_tolerance_widens_with_precision():
    tolerances = [tolerance(machine_epsilon(t)) for t in (np.float64, np.float32, np.float16)]
    assert tolerances == sorted(tolerances)
    assert tolerances[0] < 1e-6 < tolerances[1] < 1e-2 < tolerances[2]


@settings(max_examples=60, deadline=None)
@given(
    errors=hnp.arrays(
        np.float64,
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=130),
        elements=st.floats(0, 10),
    )
)
def test_heatmap_pools_to_at_most_48_and_keeps_the_maximum(errors):
    result = heatmap(errors.reshape(-1), errors.shape)
    assert 1 <= result["rows"] <= MAX_CELLS and 1 <= result["cols"] <= MAX_CELLS
    cells = np.array(result["values"], dtype=float)
    assert cells.max() == float(f"{errors.max():.{DIGITS}g}")
    assert result["pooled"] == (cells.size < errors.size)


def test_heatmap_unchecked_cells_are_null():
    values = np.full(100, np.nan)
    values[7] = 0.5
    result = heatmap(values, (100,))
    flat = [v for row in result["values"] for v in row]
    assert flat.count(0.5) == 1 and flat.count(None) == len(flat) - 1
