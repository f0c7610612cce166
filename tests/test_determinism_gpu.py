"""The determinism checker on CuPy arrays (skipped without CuPy and a CUDA device)."""

from __future__ import annotations

import pytest
from test_determinism_support import SEED000_SETUP, TRAIN_CELL, cell_namespace, line_of

from nbgrad import check_determinism
from nbgrad.backend import cupy_module
from nbgrad.determinism.digest import DeviceDigests, digest_all
from nbgrad.determinism.poison import AllocationRegistry, poisoned
from nbgrad.namespace.snapshot import Snapshot

pytestmark = pytest.mark.gpu
cp = pytest.importorskip("cupy")
if cupy_module() is None:
    pytest.skip("needs a CUDA device", allow_module_level=True)

SEED000_CUPY = SEED000_SETUP.replace("xp = np", "import cupy\nxp = cupy").replace(
    "learning_rate = 0.05",
    "learning_rate = 0.05\nWx, Wh, bias_c, data, targets = (\n"
    "    xp.asarray(a) for a in (Wx, Wh, bias_c, data, targets))")


def test_seed000_on_the_gpu_is_uninitialised_memory_from_cupy_empty():
    ns = cell_namespace(SEED000_CUPY, "gpu-seed000")
    data = check_determinism(TRAIN_CELL, ns).to_dict()
    d = data["first_divergence"]
    assert data["backend"] == "cupy"
    assert (d["step"], d["cause"], d["variable"]) == (0, "uninitialized_memory", "dLdb_c")
    assert d["line"] == line_of(SEED000_CUPY, "dLdb_c += dz")
    assert d["allocation"]["line"] == line_of(SEED000_CUPY, "dLdb_c = xp.empty(H)")


def test_seed000_on_the_gpu_with_zeros_is_deterministic():
    fixed = SEED000_CUPY.replace("dLdb_c = xp.empty(H)", "dLdb_c = xp.zeros(H)")
    ns = cell_namespace(fixed, "gpu-seed000-fixed")
    assert check_determinism(TRAIN_CELL, ns).deterministic


def test_allocator_poisons_every_pool_block_and_is_restored():
    before = cp.cuda.memory.get_allocator()
    original_empty = cp.empty
    with poisoned(0xAB, {}, AllocationRegistry(), None):
        via_empty = cp.empty(1000, dtype=cp.uint8)
        via_constructor = cp.ndarray((1000,), dtype=cp.uint8)  # bypasses cupy.empty
        assert bool((via_empty == 0xAB).all()) and bool((via_constructor == 0xAB).all())
    assert cp.cuda.memory.get_allocator() is before
    assert cp.empty is original_empty


def test_device_digest_is_exact_position_sensitive_and_layout_independent():
    a = cp.arange(1_000_003, dtype=cp.float64)
    b = a.copy()
    flipped = a.copy()
    flipped.view(cp.uint64)[12345] ^= cp.uint64(1)
    swapped = a.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    strided = cp.asfortranarray(cp.arange(12.0).reshape(3, 4))
    digests = digest_all({"a": a, "b": b, "flipped": flipped, "swapped": swapped,
                          "strided": strided, "c_order": cp.arange(12.0).reshape(3, 4)})
    assert digests["a"] == digests["b"]
    assert digests["a"] != digests["flipped"] and digests["a"] != digests["swapped"]
    assert digests["strided"] == digests["c_order"]
    batch = DeviceDigests(cp, 2)
    batch.add(a[1:])  # unaligned start: copied, then digested
    batch.add(a[1:].copy())
    first, second = batch.collect()
    assert first == second


def test_snapshot_keeps_device_copies_on_the_device_and_restores_bits():
    w = cp.random.standard_normal(1000)
    before = w.get().tobytes()
    ns = {"w": w}
    snap = Snapshot.take(ns)
    assert isinstance(snap.arrays[0].saved, cp.ndarray)
    w *= 2
    ns["w"] = w + 1
    snap.restore(ns)
    assert ns["w"] is w and w.get().tobytes() == before


def test_scatter_add_float_atomics_are_a_nondeterministic_op():
    ns = cell_namespace("import cupy as cp\nimport cupyx\n"
                        "vals = cp.random.default_rng(0).standard_normal(2**22, dtype=cp.float32)\n"
                        "idx = cp.zeros(2**22, dtype=cp.int32)\n", "gpu-scatter")
    cell = ("for step in range(2):\n    out = cp.zeros(1, dtype=cp.float32)\n"
            "    cupyx.scatter_add(out, idx, vals)\n")
    d = check_determinism(cell, ns).first_divergence
    assert d["cause"] == "nondeterministic_op" and d["variable"] == "out"
    assert "scatter_add" in d["source"]
    twin = cell.replace("cupyx.scatter_add(out, idx, vals)", "out += vals.sum()")
    assert check_determinism(twin, ns).deterministic


def test_cupy_global_rng_unseeded_and_seeded():
    ns = cell_namespace("import cupy as cp\n", "gpu-rng")
    assert check_determinism("x = cp.random.rand(4)\n", ns).first_divergence["cause"] == \
        "unseeded_rng"
    assert check_determinism("cp.random.seed(1)\nx = cp.random.rand(4)\n", ns).deterministic


def test_compare_numpy_gap_is_float_noise_for_a_clean_loop():
    ns = cell_namespace("import cupy as cp\nW = cp.linspace(0.1, 1.0, 64)\n", "gpu-compare")
    data = check_determinism("for i in range(4):\n    W = cp.tanh(W * 1.5 + 0.1)\n", ns,
                             compare_numpy=True).to_dict()
    gaps = [row["max_abs_diff"] for row in data["comparison"]["per_step"]]
    assert len(gaps) == 4 and all(g is not None and g < 1e-12 for g in gaps)
    assert isinstance(ns["W"], cp.ndarray) and ns["cp"] is cp  # swapped back after the run
