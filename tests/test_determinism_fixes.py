"""A fix for every culprit (issue 13, classes 2, 3 and 5): each entry of the causes table is
tested with a cell that has the culprit and with its fixed twin; where the fix is an edited
line, the twin is the culprit with the report's own edit applied."""

from __future__ import annotations

import sys

import pytest
from test_determinism_support import SEED000_SETUP, TRAIN_CELL, cell_namespace, line_of

from nbgrad import check_determinism
from nbgrad.determinism.causes import CAUSES, FixContext, op_kind
from nbgrad.report.schema import validate_report


def check(cell: str, ns: dict, **options):
    report = check_determinism(cell, ns, **options)
    validate_report(report.to_dict())
    return report


def applied(source: str, fix: dict) -> str:
    """The source with the report's fix applied: the edited line, or the line added first."""
    if fix["before"] is not None:
        assert fix["before"] in source
        return source.replace(fix["before"], fix["after"], 1)
    return f"{fix['after']}\n{source}"


def test_empty_read_before_written_fix_is_the_line_with_zeros_and_it_works():
    report = check(TRAIN_CELL, cell_namespace(SEED000_SETUP, "fix-empty"))
    d = report.first_divergence
    assert d["cause"] == "uninitialized_memory"
    fix = d["fix"]
    assert fix == {"kind": "zeros", "line": line_of(SEED000_SETUP, "dLdb_c = xp.empty(H)"),
                   "before": "dLdb_c = xp.empty(H)", "after": "dLdb_c = xp.zeros(H)",
                   "summary": fix["summary"]}
    assert report.headline.endswith(fix["summary"]) and "xp.zeros(H)" in report.headline
    fixed = cell_namespace(applied(SEED000_SETUP, fix), "fix-empty-twin")
    assert check(TRAIN_CELL, fixed).deterministic


def test_empty_like_is_edited_to_zeros_like():
    setup = "import numpy as np\nW = np.ones(4)\n"
    cell = "for i in range(3):\n    g = np.empty_like(W)\n    g += W\n    W = W - 0.1 * g\n"
    fix = check(cell, cell_namespace(setup, "fix-empty-like")).first_divergence["fix"]
    assert (fix["before"], fix["after"]) == ("g = np.empty_like(W)", "g = np.zeros_like(W)")
    assert check(applied(cell, fix), cell_namespace(setup, "fix-empty-like-twin")).deterministic


@pytest.mark.parametrize(("draw", "seeding"), [
    ("np.random.normal(size=3)", "np.random.seed(0)"),
    ("random.random()", "random.seed(0)"),
])
def test_unseeded_generator_fix_is_the_seeding_line_and_it_works(draw, seeding):
    setup = "import numpy as np\nimport random\nw = np.zeros(3)\n"
    cell = f"for i in range(4):\n    w = w + 0.1 * {draw}\n"
    d = check(cell, cell_namespace(setup, "fix-seed")).first_divergence
    assert d["cause"] == "unseeded_rng"
    assert d["fix"]["kind"] == "seed" and d["fix"]["after"] == seeding and d["fix"]["line"] == 1
    assert check(applied(cell, d["fix"]), cell_namespace(setup, "fix-seed-twin")).deterministic


def test_a_generator_from_an_earlier_cell_is_recreated_with_a_seed():
    setup = "import numpy as np\nrng = np.random.default_rng(3)\nw = np.zeros(3)\n"
    cell = "for i in range(3):\n    w = w + rng.normal(size=3)\n"
    fix = check(cell, cell_namespace(setup, "fix-rng-obj")).first_divergence["fix"]
    assert fix["after"] == "rng = np.random.default_rng(0)"
    assert check(applied(cell, fix), cell_namespace(setup, "fix-rng-obj-twin")).deterministic


CLOCK_CELL = """\
for i in range(3):
    now = datetime.now()
    w = w * 0.5 + (now.second + now.microsecond) * 1e-6
"""


def test_datetime_now_is_external_by_intervention_and_the_call_and_line_are_named():
    setup = "import numpy as np\nfrom datetime import datetime\nw = np.ones(2)\n"
    d = check(CLOCK_CELL, cell_namespace(setup, "fix-clock")).first_divergence
    assert d["cause"] == "external", d["counts"]
    evidence = {e["condition"]: (e["differed"], e["of"]) for e in d["evidence"]}
    assert evidence["frozen clock and entropy"][0] == 0 and evidence["identical settings"][0] > 0
    assert {"call": "datetime.now", "line": 2, "function": None} in d["clock_calls"]
    assert d["fix"]["kind"] == "clock" and "datetime.now" in d["fix"]["summary"]
    assert d["fix"]["line"] == 2


def test_the_clock_passed_in_is_deterministic():
    setup = ("import numpy as np\nfrom datetime import datetime\nw = np.ones(2)\n"
             "started = datetime.now()\n")
    cell = CLOCK_CELL.replace("now = datetime.now()", "now = started")
    assert check(cell, cell_namespace(setup, "fix-clock-twin")).deterministic


@pytest.fixture
def clock_module(tmp_path, monkeypatch):
    name = f"qa_clockutil_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(
        "import time\n\n\ndef jitter():\n    return (time.time_ns() % 1000) * 1e-9\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_a_clock_read_inside_the_users_module_is_external_and_named_there(clock_module):
    ns = cell_namespace(f"import numpy as np\nfrom {clock_module} import jitter\nw = np.ones(2)\n",
                        "fix-clock-module")
    d = check("for i in range(3):\n    w = w + jitter()\n", ns).first_divergence
    assert d["cause"] == "external", d["counts"]
    assert d["clock_calls"][0]["call"] == "time.time_ns"
    assert d["clock_calls"][0]["function"] == "jitter" and d["clock_calls"][0]["line"] == 5


THREAD_SETUP = """\
import sys
import numpy as np
from concurrent.futures import ThreadPoolExecutor, as_completed
chunks = [np.random.default_rng(k).normal(size=20000) * 10.0 ** (k % 7 - 3) for k in range(8)]

def partial(chunk):
    total = 0.0
    for x in chunk.tolist():
        total += x
    return total

pool = ThreadPoolExecutor(4)
w = np.zeros(1)
"""

THREAD_CELL = """\
old = sys.getswitchinterval()
sys.setswitchinterval(1e-6)
for step in range(3):
    futures = [pool.submit(partial, c) for c in chunks]
    grad = 0.0
    for f in as_completed(futures):
        grad += f.result()
    w = w - 1e-3 * grad
sys.setswitchinterval(old)
"""


def test_thread_pool_summing_in_completion_order_is_a_nondeterministic_op_fixed_by_order():
    d = check(THREAD_CELL, cell_namespace(THREAD_SETUP, "fix-threads"), runs=4).first_divergence
    assert d["cause"] == "nondeterministic_op", d["counts"]
    fix = d["fix"]
    assert fix["kind"] == "thread_pool"
    assert (fix["before"], fix["after"]) == ("for f in as_completed(futures):",
                                             "for f in futures:")
    fixed = applied(THREAD_CELL, fix)
    assert check(fixed, cell_namespace(THREAD_SETUP, "fix-threads-twin"), runs=3).deterministic


def fix_for(cause: str, source: str, backend: str = "cupy", cell: str = "") -> dict:
    return CAUSES[cause].fix(FixContext(source, 7, "step", None, [], {}, backend, cell))


@pytest.mark.parametrize(("source", "kind", "words"), [
    ("hist = cp.cumsum(x)", "cub", "CUPY_ACCELERATORS="),
    ("cupyx.scatter_add(grad, idx, vals)", "float_atomics", "segmented sum"),
    ("cp.add.at(grad, idx, vals)", "float_atomics", "integers"),
    ("h = W @ x", "cublas_cudnn", "CUBLAS_WORKSPACE_CONFIG"),
    ("y = F.convolution_2d(x, W)", "cublas_cudnn", "cudnn_deterministic"),
])
def test_every_gpu_operation_has_its_fix_entry(source, kind, words):
    fix = fix_for("nondeterministic_op", source)
    assert fix["kind"] == kind and words in fix["summary"]
    assert op_kind(source, "", "numpy") in (None, "float_atomics")  # CUB/cuBLAS: CuPy only


def test_every_cause_in_the_table_has_words_detection_and_a_fix():
    for code, cause in CAUSES.items():
        fix = cause.fix(FixContext("x = np.empty(3)", 3, None, None, [], {}, "numpy", ""))
        assert cause.code == code and cause.words and cause.detection
        assert fix["summary"] and set(fix) == {"kind", "summary", "line", "before", "after"}


def test_the_chaos_probe_puts_the_divergence_beside_what_one_ulp_spreads_to():
    race = check(THREAD_CELL, cell_namespace(THREAD_SETUP, "chaos-race"), runs=4)
    chaos = race.first_divergence["chaos"]
    assert chaos["nudged"].startswith("chunks[") and chaos["observed"] < 1e-3, chaos
    assert chaos["ratio"] is None or chaos["ratio"] < 1e6, chaos  # rounding-sized, both
    garbage = check(TRAIN_CELL, cell_namespace(SEED000_SETUP, "chaos-seed000"))
    words = garbage.first_divergence["chaos"]["words"]
    assert any(w in words for w in ("beyond rounding", "NaN", "does not explain")), words
    assert "own chaos" not in words


def test_threads_the_cell_leaves_running_are_reported_and_the_check_does_not_hang():
    ns = cell_namespace("import threading\nimport time\nimport numpy as np\nw = np.ones(2)\n"
                        "stop = threading.Event()\n", "threads-left")
    cell = ("worker = threading.Thread(target=stop.wait, name='prefetch', daemon=True)\n"
            "worker.start()\nfor i in range(3):\n    w = w * 0.5\n")
    try:
        data = check(cell, ns).to_dict()
    finally:
        ns["stop"].set()
    assert data["deterministic"]
    assert data["concurrency"]["threads"] == ["prefetch"]
    assert "still running" in data["concurrency"]["message"]
