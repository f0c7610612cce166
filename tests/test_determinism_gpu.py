"""The determinism checker on CuPy training loops (GPU only; skipped without CuPy and a device).

Cells run through the real IPython shell (``%%determinism``), as in a
notebook; only the report's JSON (docs/report-schema.md) is read.  Line
numbers are those of the cell that holds the line: the setup cell for code in
its functions, the magic's body for the loop itself.
"""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from gpu_support import cp, host_copies
from hypothesis import given, settings
from hypothesis import strategies as st
from test_determinism_support import SEED000_FIXED, SEED000_SETUP, TRAIN_CELL, line_of

from nbgrad import check_determinism
from nbgrad.determinism.digest import DeviceDigests, digest_all

pytestmark = pytest.mark.gpu


def on_cupy(setup: str) -> str:
    """Seed 000's setup cell (numpy) as a CuPy user writes it: ``xp`` is CuPy, state on device."""
    cupy_setup = setup.replace("xp = np", "import cupy\nxp = cupy").replace(
        "learning_rate = 0.05", "learning_rate = 0.05\nWx, Wh, bias_c, data, targets = (\n"
        "    xp.asarray(a) for a in (Wx, Wh, bias_c, data, targets))")
    assert "xp = cupy" in cupy_setup and "xp.asarray(a)" in cupy_setup, "setup cell changed"
    return cupy_setup


#: Seed 000: the bias gradient starts from ``xp.empty`` (here CuPy's) and is
#: accumulated with ``+=`` inside a hand-written backward pass.
SEED000 = on_cupy(SEED000_SETUP)

CUMSUM_SETUP = "import cupy as cp\nx = cp.random.default_rng(0).standard_normal(2**24, " \
               "dtype=cp.float32)\n"
CUMSUM = """\
totals = []
for step in range(3):
    c = cp.cumsum(x)
    totals.append(float(c[-1]))
"""

SCATTER_SETUP = """\
import cupy as cp
import cupyx
vals = cp.random.default_rng(0).standard_normal(2**22, dtype=cp.float32)
idx = (cp.arange(2**22) % 1000).astype(cp.int32)
"""
SCATTER = """\
for step in range(2):
    hist = cp.zeros(1000, dtype=cp.float32)
    cupyx.scatter_add(hist, idx, vals)
"""
# The fix: integer accumulation (integer atomics are associative), here in units of 2⁻²⁰.
SCATTER_FIXED = """\
for step in range(2):
    hist = cp.zeros(1000, dtype=cp.int64)
    cupyx.scatter_add(hist, idx, cp.rint(vals * 2**20).astype(cp.int64))
"""


def determinism(run_cell, body: str, options: str = "") -> dict[str, Any]:
    return run_cell(f"%%determinism {options}\n{body}").to_dict()


def fix_text(divergence: dict[str, Any]) -> str:
    """The report's fix for the culprit (``first_divergence.fix``), as text."""
    fix = divergence.get("fix")
    assert fix, f"no fix in the report: {sorted(divergence)}"
    return fix if isinstance(fix, str) else json.dumps(fix)


def test_seed000_on_the_gpu_is_uninitialised_memory_from_cupy_empty(run_cell):
    run_cell(SEED000)
    report = determinism(run_cell, TRAIN_CELL)
    d = report["first_divergence"]
    assert report["backend"] == "cupy" and not report["deterministic"]
    assert (d["step"], d["cause"], d["variable"]) == (0, "uninitialized_memory", "dLdb_c")
    assert d["function"] == "bptt" and d["line"] == line_of(SEED000, "dLdb_c += dz")
    assert d["allocation"]["line"] == line_of(SEED000, "dLdb_c = xp.empty(H)")
    assert d["allocation"]["source"] == "dLdb_c = xp.empty(H)"
    assert "zeros" in fix_text(d)


def test_seed000_with_zeros_is_deterministic_and_leaves_one_plain_runs_state(shell, run_cell):
    run_cell(on_cupy(SEED000_FIXED))
    run_cell(TRAIN_CELL)
    plain = {name: shell.user_ns[name].get().tobytes() for name in ("Wx", "bias_c")}
    plain_losses = list(shell.user_ns["losses"])
    run_cell(on_cupy(SEED000_FIXED))  # the same starting state again
    report = determinism(run_cell, TRAIN_CELL)
    assert report["deterministic"] and report["first_divergence"] is None, report
    assert report["backend"] == "cupy" and report["restored"] == "run0"
    assert {name: shell.user_ns[name].get().tobytes() for name in ("Wx", "bias_c")} == plain
    assert shell.user_ns["losses"] == plain_losses


@pytest.fixture
def cub_scans():
    """CuPy's CUB-backed scans switched on (its default on CUDA), put back afterwards."""
    routine = list(cp._core.get_routine_accelerators())
    cp._core.set_routine_accelerators(["cub"])
    yield
    cp._core.set_routine_accelerators(routine)


def test_cumsum_under_cub_is_a_nondeterministic_op_with_its_fix(run_cell, cub_scans):
    run_cell(CUMSUM_SETUP)
    report = determinism(run_cell, CUMSUM)
    d = report["first_divergence"]
    assert (d["step"], d["cause"]) == (0, "nondeterministic_op"), d
    assert d["variable"] in ("c", "totals")
    assert d["line"] == line_of(CUMSUM, "c = cp.cumsum(x)")
    assert "CUPY_ACCELERATORS" in fix_text(d)


def test_cumsum_without_cub_is_deterministic(run_cell, cub_scans):
    cp._core.set_routine_accelerators([])  # what CUPY_ACCELERATORS= (empty) gives at import
    run_cell(CUMSUM_SETUP)
    assert determinism(run_cell, CUMSUM)["deterministic"]


def test_scatter_add_float_atomics_are_a_nondeterministic_op_with_its_fix(run_cell):
    run_cell(SCATTER_SETUP)
    d = determinism(run_cell, SCATTER)["first_divergence"]
    assert (d["step"], d["cause"], d["variable"]) == (0, "nondeterministic_op", "hist"), d
    assert d["line"] == line_of(SCATTER, "cupyx.scatter_add(hist, idx, vals)")
    fix = fix_text(d)
    assert "sort" in fix or "integer" in fix, fix


def test_scatter_add_with_integer_accumulation_is_deterministic(run_cell):
    run_cell(SCATTER_SETUP)
    assert determinism(run_cell, SCATTER_FIXED)["deterministic"]


# --------------------------------------------------------------------------- CuPy's own settings

def cupy_settings() -> dict[str, Any]:
    """Everything of CuPy's a check could leave changed: allocator, pools, wrappers, RNG."""
    pool = cp.get_default_memory_pool()
    return {"allocator": cp.cuda.get_allocator(), "pool": pool, "limit": pool.get_limit(),
            "pinned pool": cp.get_default_pinned_memory_pool(),
            "empty": cp.empty, "empty_like": cp.empty_like,
            "routine accelerators": list(cp._core.get_routine_accelerators()),
            "reduction accelerators": list(cp._core.get_reduction_accelerators()),
            "random state": cp.random.get_random_state()}


def assert_same_settings(before: dict[str, Any]) -> None:
    after = cupy_settings()
    for key, value in before.items():
        same = value == after[key] if isinstance(value, (int, list)) else value is after[key]
        assert same, f"CuPy's {key} changed: {value!r} -> {after[key]!r}"


LOOP = """\
for step in range(3):
    g = cp.empty(W.size)
    g += W
    W = W - 0.1 * g
{stop}"""
STOPS = {"clean": "", "raises": "    if step == 1:\n        raise ValueError('boom')\n",
         "interrupted": "    if step == 1:\n        raise KeyboardInterrupt\n"}


@pytest.fixture(params=["default pool", "own pool", "no pool", "using_allocator"])
def user_allocator(request):
    """The allocator setting the user left before the check (CuPy's own put back after)."""
    original = cp.cuda.get_allocator()
    own = cp.cuda.MemoryPool()
    if request.param == "own pool":
        cp.cuda.set_allocator(own.malloc)
    elif request.param == "no pool":
        cp.cuda.set_allocator(None)
    if request.param == "using_allocator":
        with cp.cuda.using_allocator(own.malloc):
            yield request.param, own
    else:
        yield request.param, (own if request.param == "own pool" else
                              cp.get_default_memory_pool())
    cp.cuda.set_allocator(original)


@pytest.mark.parametrize("stop", sorted(STOPS))
def test_allocator_and_pools_are_left_as_the_user_had_them(user_allocator, stop):
    setting, pool = user_allocator
    cp.random.get_random_state()  # exists before the check, as after any cp.random use
    before = cupy_settings()
    namespace = {"cp": cp, "W": cp.ones(2**17)}
    cell = LOOP.format(stop=STOPS[stop])
    if stop == "interrupted":
        with pytest.raises(KeyboardInterrupt):
            check_determinism(cell, namespace)
    else:
        try:
            report = check_determinism(cell, namespace).to_dict()
        except Exception:  # a raising cell may also surface as an error
            report = None
        if stop == "clean":  # the poison reached memory from the user's allocator
            assert report["first_divergence"]["cause"] == "uninitialized_memory", setting
    assert_same_settings(before)
    assert isinstance(namespace["W"], cp.ndarray)
    if setting == "using_allocator":  # still inside the user's context manager
        assert cp.cuda.get_allocator() == pool.malloc


def test_the_check_holds_no_device_memory_beyond_what_a_plain_run_leaves(user_allocator):
    setting, pool = user_allocator
    if setting == "no pool":
        pytest.skip("no pool to read the bytes of")
    cell = LOOP.format(stop="").replace("cp.empty", "cp.zeros")

    def held_after(run) -> int:
        gc.collect()
        start = pool.used_bytes()
        namespace = {"cp": cp, "W": cp.ones(2**17)}
        kept = run(namespace)
        gc.collect()
        held = pool.used_bytes() - start
        del kept, namespace
        return held

    plain = held_after(lambda ns: exec(cell, ns))
    checked = held_after(lambda ns: check_determinism(cell, ns))  # the report kept, as Out[] does
    assert checked == plain, f"{setting}: {checked} bytes held after the check, {plain} after " \
                             "a plain run"


# --------------------------------------------------------------------------- --compare-numpy

def test_compare_numpy_gap_per_step(shell, run_cell):
    run_cell("import cupy as cp\nW = cp.linspace(0.1, 1.0, 4096)\n")
    body = "for i in range(4):\n    W = cp.tanh(W * 1.5 + 0.1)\n"
    comparison = determinism(run_cell, body, "--compare-numpy")["comparison"]
    gaps = [row["max_abs_diff"] for row in comparison["per_step"]]
    assert [row["step"] for row in comparison["per_step"]] == [0, 1, 2, 3]
    assert all(g is not None and g < 1e-12 for g in gaps), gaps  # float noise only
    assert "W" in comparison["per_step"][0]["by_variable"]
    assert shell.user_ns["cp"] is cp and isinstance(shell.user_ns["W"], cp.ndarray)


def test_compare_numpy_names_the_step_where_the_gpu_run_departs(run_cell):
    # From step 2 on, the loop draws random numbers: CuPy's and numpy's generators differ.
    run_cell("import cupy as cp\nW = cp.linspace(0.1, 1.0, 4096)\ncp.random.seed(0)\n")
    body = ("for i in range(4):\n    W = cp.tanh(W * 1.5 + 0.1)\n    if i >= 2:\n"
            "        W = W + cp.random.rand(W.size)\n")
    gaps = [row["max_abs_diff"] for row in
            determinism(run_cell, body, "--compare-numpy")["comparison"]["per_step"]]
    assert gaps[0] < 1e-12 and gaps[1] < 1e-12 and min(gaps[2:]) > 1e-3, gaps


# --------------------------------------------------------------------------- RNG and digests

def test_cupy_global_rng_unseeded_and_seeded():
    namespace = {"cp": cp}
    report = check_determinism("for i in range(2):\n    x = cp.random.rand(4)\n", namespace)
    assert report.first_divergence["cause"] == "unseeded_rng"
    seeded = "cp.random.seed(1)\nfor i in range(2):\n    x = cp.random.rand(4)\n"
    assert check_determinism(seeded, namespace).deterministic


def test_digests_stay_on_the_device_whatever_the_number_of_arrays():
    """One host copy per step for all device arrays together, not one per array."""

    def copies_for(n: int) -> int:
        namespace = {"cp": cp, **{f"w{k}": cp.full(4096, k, dtype=cp.float32) for k in range(n)}}
        body = "for step in range(6):\n" + "".join(f"    w{k} = w{k} * 0.5 + 1\n"
                                                   for k in range(n))
        with host_copies() as copies:
            assert check_determinism(body, namespace).deterministic
        return copies[0]

    one, many = copies_for(1), copies_for(16)
    assert many - one < 16, f"{one} host copies with 1 device array, {many} with 16"


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 5000), dtype=st.sampled_from(["float16", "float32", "float64", "int8"]),
       where=st.floats(0, 1, exclude_max=True), bit=st.integers(0, 7))
def test_any_single_bit_flip_changes_the_device_digest(n, dtype, where, bit):
    a = cp.arange(n).astype(dtype)
    flipped = a.copy()
    raw = flipped.view(cp.uint8)
    raw[int(where * raw.size)] ^= cp.uint8(1 << bit)
    digests = digest_all({"a": a, "copy": a.copy(), "flipped": flipped})
    assert digests["a"] == digests["copy"] != digests["flipped"]


def test_device_digest_is_exact_position_sensitive_and_layout_independent():
    a = cp.arange(1_000_003, dtype=cp.float64)
    flipped = a.copy()
    flipped.view(cp.uint64)[12345] ^= cp.uint64(1)
    swapped = a.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    digests = digest_all({"a": a, "b": a.copy(), "flipped": flipped, "swapped": swapped,
                          "fortran": cp.asfortranarray(cp.arange(12.0).reshape(3, 4)),
                          "c_order": cp.arange(12.0).reshape(3, 4)})
    assert digests["a"] == digests["b"]
    assert digests["a"] != digests["flipped"] and digests["a"] != digests["swapped"]
    assert digests["fortran"] == digests["c_order"]
    batch = DeviceDigests(cp, 2)
    batch.add(a[1:])  # unaligned start: copied, then digested
    batch.add(a[1:].copy())
    first, second = batch.collect()
    assert first == second
