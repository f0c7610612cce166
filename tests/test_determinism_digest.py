"""Digests compare bits exactly; differences are measured in absolute, relative and ULP terms."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbgrad.determinism.difference import difference
from nbgrad.determinism.digest import PARALLEL_CHUNK, digest_all, host_digest, value_digest

FLOAT_ARRAYS = hnp.arrays(dtype=st.sampled_from([np.float32, np.float64]),
                          shape=hnp.array_shapes(max_dims=3, max_side=6),
                          elements={"allow_nan": False, "allow_infinity": False})


@settings(max_examples=60, deadline=None)
@given(FLOAT_ARRAYS, st.data())
def test_digest_changes_with_any_single_bit_and_not_with_layout(array, data):
    assert host_digest(array) == host_digest(np.asfortranarray(array).copy(order="F"))
    raw = array.copy().reshape(-1).view(np.uint8)
    position = data.draw(st.integers(0, raw.size - 1))
    bit = data.draw(st.integers(0, 7))
    raw[position] ^= np.uint8(1 << bit)
    flipped = raw.view(array.dtype).reshape(array.shape)
    assert host_digest(flipped) != host_digest(array)


def test_signed_zero_nan_payload_shape_and_dtype_all_count():
    nan_a = np.array([np.nan])
    nan_b = nan_a.view(np.uint64).copy()
    nan_b += 1
    assert host_digest(np.array([0.0])) != host_digest(np.array([-0.0]))
    assert host_digest(nan_a) != host_digest(nan_b.view(np.float64))
    assert host_digest(np.zeros(4)) != host_digest(np.zeros((2, 2)))
    assert host_digest(np.zeros(4)) != host_digest(np.zeros(4, dtype=np.float32))
    assert value_digest(1.0) != value_digest(1)
    assert value_digest([1.0, 2.0]) == value_digest([1.0, 2.0])


def test_large_buffers_hashed_in_parallel_chunks_are_still_exact():
    big = np.arange(PARALLEL_CHUNK // 8 * 3 + 5, dtype=np.float64)
    same = big.copy()
    assert host_digest(big) == host_digest(same)
    same[-1] += 1.0
    assert host_digest(big) != host_digest(same)
    assert digest_all({"a": big, "b": big.copy()})["a"] == digest_all({"b": big.copy()})["b"]


@settings(max_examples=60, deadline=None)
@given(FLOAT_ARRAYS, st.integers(1, 3))
def test_difference_counts_ulps_and_is_symmetric(array, steps):
    assume(np.all(np.abs(array) < 1e30))  # stay clear of inf
    moved = array.copy()
    for _ in range(steps):
        moved = np.nextafter(moved, np.inf, dtype=array.dtype)
    forward, backward = difference(array, moved), difference(moved, array)
    assert forward == backward
    assert forward.max_ulps == (steps if array.size else 0)
    assert difference(array, array.copy()).max_abs == 0.0


def test_a_difference_the_per_step_sample_misses_is_still_found_at_its_step():
    from nbgrad import check_determinism
    from nbgrad.determinism.runner import SAMPLE_ABOVE_BYTES, sampled

    n, k = 5_000_000, 1_234_567
    assert n * 8 > SAMPLE_ABOVE_BYTES
    positions = sampled(np.arange(n))
    assert k not in set(positions.tolist()) and positions.size < n // 10  # missed by the sample
    ns = {"np": np, "W": np.zeros(n), "k": k}
    cell = ("for step in range(4):\n    W *= 0.5\n    if step == 1:\n"
            "        W[k] += np.random.normal()\n")
    d = check_determinism(cell, ns).first_divergence
    assert (d["step"], d["variable"], d["cause"]) == (1, "W", "unseeded_rng")
    assert d["line"] == 4


def test_a_difference_over_many_chunks_and_a_dict_of_arrays_equals_the_whole_array_one():
    from nbgrad.determinism import difference as module

    rng = np.random.default_rng(4)
    left = rng.normal(size=3 * module.CHUNK + 5)
    right = left.copy()
    right[-1] = np.nextafter(right[-1], np.inf) * 1.5  # the worst one in the last chunk
    right[7] = np.nextafter(right[7], np.inf)
    left[module.CHUNK] = right[module.CHUNK] = np.nan  # NaN on both sides counts equal
    found = module.difference(left, right)
    delta = np.abs(left - right)
    assert np.nanargmax(delta) == left.size - 1 and found.max_abs == np.nanmax(delta)
    assert found.max_rel == np.nanmax(delta / np.maximum(np.abs(left), np.abs(right)))
    assert found.fraction == 2 / left.size
    halves = {"a": left[:module.CHUNK], "b": left[module.CHUNK:2 * module.CHUNK]}
    moved = {"a": right[:module.CHUNK], "b": right[module.CHUNK:2 * module.CHUNK]}
    assert module.difference(halves, moved) == module.difference(
        np.stack(list(halves.values())), np.stack(list(moved.values())))
