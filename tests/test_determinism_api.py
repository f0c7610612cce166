"""Public API: options, bad input, errors in the cell, interrupts, the report contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_determinism_support import SEED000_SETUP, TRAIN_CELL, cell_namespace, line_of

import nbgrad
from nbgrad import check_determinism
from nbgrad.errors import SnapshotError, UsageError
from nbgrad.report.determinism import DeterminismReport
from nbgrad.report.schema import validate_report

COMMON_FIELDS = {"kind", "version", "nbgrad_version", "id", "label", "status", "headline",
                 "created", "elapsed_s"}
DETERMINISM_FIELDS = {"deterministic", "runs", "steps", "backend", "tracked", "first_divergence",
                      "per_step", "experiments", "error", "comparison", "restored", "variables",
                      "per_step_collapsed"}
DIVERGENCE_FIELDS = {"step", "variable", "function", "line", "source", "file", "context", "cause",
                     "cause_confidence", "explanation", "max_abs_diff", "max_rel_diff",
                     "max_ulps", "fraction_differing", "allocation", "fix", "evidence",
                     "replicas", "counts", "clock_calls", "chaos"}


def test_report_follows_the_schema_and_is_plain_json():
    ns = cell_namespace(SEED000_SETUP, "schema")
    report = check_determinism(TRAIN_CELL, ns, label="seed 000")
    assert isinstance(report, DeterminismReport) and nbgrad.check_determinism is check_determinism
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(data) >= COMMON_FIELDS | DETERMINISM_FIELDS
    assert data["kind"] == "determinism" and data["label"] == "seed 000"
    assert set(data["first_divergence"]) == DIVERGENCE_FIELDS
    assert data["backend"] == "numpy" and data["runs"] == 2 and data["steps"] == 5
    for row in data["per_step"]:
        assert set(row) == {"step", "diverged", "max_abs_diff", "by_variable", "fraction"}
        assert set(row["by_variable"]) == set(data["tracked"])
    for experiment in data["experiments"]:
        assert set(experiment) >= {"name", "poison", "rng", "outcome", "first_step", "detail"}
        assert experiment["outcome"] in {"identical", "differ", "raised"}
    assert report.headline == data["headline"] and "step 0" in data["headline"]
    assert validate_report(data) is None


def test_label_defaults_to_the_first_line_and_progress_is_reported():
    calls = []
    report = check_determinism("\nx = 1\ny = 2\n", {}, runs=3,
                               progress=lambda done, total: calls.append((done, total)))
    assert report.to_dict()["label"] == "x = 1"
    assert calls[-1] == (3, 3) and [done for done, _ in calls] == sorted(d for d, _ in calls)


def test_label_names_the_loops_first_call_not_the_cells_first_line():
    cell = ("losses = []\nrng = np.random.default_rng(0)\nfor step in range(2):\n"
            "    losses.append(float(train_step(rng, step)))\n    print(step)\n")
    ns = {"np": np, "train_step": lambda rng, step: rng.random() + step}
    assert check_determinism(cell, ns).to_dict()["label"] == "train_step(rng, step)"
    # Without a loop: the first call that is not bookkeeping; without a call: the first line.
    assert check_determinism("# set-up\ny = abs(-2)\nz = np.ones(2)\n", {"np": np}) \
        .to_dict()["label"] == "np.ones(2)"


def test_run_0_error_is_reported_and_the_namespace_is_as_a_failing_plain_run_leaves_it():
    cell = ("x = 1\nfor i in range(3):\n    y = i * 10\n"
            "    if i == 1:\n        raise ValueError('boom')\n")
    plain: dict = {}
    with pytest.raises(ValueError):
        exec(cell, plain)
    checked: dict = {}
    data = check_determinism(cell, checked).to_dict()
    assert data["status"] == "error" and not data["deterministic"]
    assert data["error"]["run"] == 0 and data["error"]["type"] == "ValueError"
    assert data["error"]["under_poison"] is False
    assert "raise ValueError('boom')" in data["error"]["traceback"]
    assert "nbgrad/determinism" not in data["error"]["traceback"]
    assert "ValueError in run 0: boom" in data["headline"]
    assert {k: checked[k] for k in ("x", "y", "i")} == {k: plain[k] for k in ("x", "y", "i")}


def test_syntax_error_is_reported_like_a_run_0_error():
    data = check_determinism("for i in range(3)\n    pass\n", {}).to_dict()
    assert data["status"] == "error" and data["error"]["type"] == "SyntaxError"
    assert "for i in range(3)" in data["error"]["traceback"]
    assert "ast.py" not in data["error"]["traceback"]


# The zeroed scratch block is freed and recycled by np.empty: the plain run sees zeros
# (the seed-000 trap), so only the poisoned reruns trip over the guard.
GARBAGE_GUARD = """\
scratch = np.zeros(64)
del scratch
buf = np.empty(64)
if not (np.abs(buf) < 1e300).all():
    raise FloatingPointError('garbage in buf')
buf[:] = 1.0
"""


def test_rerun_that_raises_only_under_poison_is_evidence_of_uninitialised_memory():
    ns = cell_namespace("import numpy as np\n", "guard")
    data = check_determinism(GARBAGE_GUARD, ns).to_dict()
    assert data["status"] == "diverged"
    assert data["error"]["run"] == 1 and data["error"]["under_poison"] is True
    assert data["error"]["type"] == "FloatingPointError"
    divergence = data["first_divergence"]
    assert divergence["cause"] == "uninitialized_memory"
    assert "raised only under poisoning" in divergence["explanation"]
    assert divergence["line"] == line_of(GARBAGE_GUARD, "raise FloatingPointError")
    assert any(e["outcome"] == "raised" for e in data["experiments"])
    assert ns["buf"].tobytes() == np.ones(64).tobytes()  # run 0's end state


def test_snapshot_too_big_is_refused_before_the_cell_runs():
    ns = {"big": np.zeros(2**18), "small": np.zeros(4), "count": 0}
    with pytest.raises(SnapshotError) as info:
        check_determinism("count += 1\n", ns, max_snapshot_bytes=2**20)
    assert "2.0 MB" in str(info.value) and "big (2.0 MB)" in str(info.value)
    assert ns["count"] == 0


def interrupting_cell(ns: dict, interrupt_on_call: int):
    calls = []

    def cell():
        calls.append(1)
        ns["W"] = ns["W"] + 1.0
        ns["W0"][0] += 1.0
        if len(calls) == interrupt_on_call:
            raise KeyboardInterrupt

    return cell


def test_interrupt_in_run_0_restores_the_snapshot_and_says_so():
    w0 = np.zeros(2)
    ns = {"W": np.zeros(2), "W0": w0}
    with pytest.raises(KeyboardInterrupt, match="snapshot taken before the cell"):
        check_determinism(interrupting_cell(ns, 1), ns)
    assert ns["W"].tolist() == [0.0, 0.0] and ns["W0"] is w0 and w0.tolist() == [0.0, 0.0]


def test_interrupt_in_a_rerun_restores_run_0_and_says_so():
    w0 = np.zeros(2)
    ns = {"W": np.zeros(2), "W0": w0}
    with pytest.raises(KeyboardInterrupt, match="state after run 0"):
        check_determinism(interrupting_cell(ns, 2), ns)
    assert ns["W"].tolist() == [1.0, 1.0] and ns["W0"] is w0 and w0.tolist() == [1.0, 0.0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"runs": 1}, "runs must be an integer >= 2"),
    ({"runs": 2.5}, "runs must be an integer >= 2"),
    ({"track": ["1abc"]}, "cannot track '1abc'"),
    ({"track": ["NN.AB]"]}, "cannot track 'NN.AB]'"),
    ({"track": []}, "track names nothing"),
])
def test_bad_options_are_usage_errors_naming_the_culprit(kwargs, message):
    with pytest.raises(UsageError, match=message):
        check_determinism("x = 1\n", {}, **kwargs)


def test_bad_code_and_namespace_are_usage_errors():
    with pytest.raises(UsageError, match=r"expected cell source .* got int"):
        check_determinism(42, {})
    with pytest.raises(UsageError, match="namespace must be a dict, got list"):
        check_determinism("x = 1\n", [])


def test_track_restricts_the_compared_names_and_follows_attributes():
    ns = cell_namespace("import numpy as np\nclass N: pass\nNN = N()\nNN.AB = np.ones(2)\n"
                        "noise = 0.0\n", "track")
    cell = "for i in range(3):\n    NN.AB = NN.AB * 2\n    noise = np.random.rand()\n"
    tracked = check_determinism(cell, ns, track=["NN.AB"]).to_dict()
    assert tracked["tracked"] == ["NN.AB"] and tracked["deterministic"]
    everything = check_determinism(cell, ns).to_dict()
    assert everything["first_divergence"]["variable"] == "noise"
    assert everything["first_divergence"]["cause"] == "unseeded_rng"


def test_compare_numpy_reports_a_per_step_gap():
    ns = cell_namespace("import numpy as cp\nW = cp.ones(3)\n", "compare")
    data = check_determinism("for i in range(3):\n    W = cp.sqrt(W + i)\n", ns,
                             compare_numpy=True).to_dict()
    comparison = data["comparison"]
    assert comparison["reference"] == "numpy"
    assert [row["step"] for row in comparison["per_step"]] == [0, 1, 2]
    assert all(row["by_variable"]["W"] == 0.0 for row in comparison["per_step"])
    assert "zero by construction" in comparison["note"]  # numpy posing as cp: said so
    assert ns["W"].tobytes() == np.sqrt(np.sqrt(np.sqrt(np.ones(3)) + 1) + 2).tobytes()


def test_cells_from_a_real_ipython_shell_are_localised(shell):
    shell.run_cell(SEED000_SETUP)
    data = check_determinism(TRAIN_CELL, shell.user_ns).to_dict()
    divergence = data["first_divergence"]
    assert (divergence["function"], divergence["variable"]) == ("bptt", "dLdb_c")
    assert divergence["source"] == "dLdb_c += dz"
    assert divergence["allocation"]["source"] == "dLdb_c = xp.empty(H)"
    assert {"In", "Out", "_ih", "_oh"} <= set(shell.user_ns)  # IPython names untouched


def test_reruns_print_and_warn_nothing_the_user_sees_run_0_once(capsys):
    ns = cell_namespace(SEED000_SETUP, "quiet")
    cell = "import warnings\n" + TRAIN_CELL.replace(
        "    losses.append(loss)", "    losses.append(loss)\n    print('LOSS', i)\n"
        "    warnings.warn('step done')")
    with pytest.warns(UserWarning) as caught:
        check_determinism(cell, ns)
    printed = capsys.readouterr().out
    assert printed.count("LOSS") == 5 and printed.count("LOSS 0\n") == 1
    assert len(caught) == 5


def test_the_engine_imports_neither_ipython_nor_widgets():
    import subprocess
    import sys

    code = ("import sys, nbgrad.determinism, nbgrad.report.determinism; "
            "bad = [m for m in ('IPython', 'ipywidgets', 'cupy') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def _interrupt(*_args, **_kwargs):
    raise KeyboardInterrupt


#: A diverging cell (unseeded draws), so that every phase runs: experiments, localisation,
#: the chaos probe.
DIVERGING = "for i in range(3):\n    W = W + np.random.normal(size=2)\n    W0[0] += 1.0\n"


@pytest.mark.parametrize(("phase", "target", "says", "state"), [
    ("the snapshot", "nbgrad.determinism.api.Snapshot.take", "cell did not run", "before"),
    ("the end snapshot", "second Snapshot.take", "holds what run 0 left", "run0"),
    ("the experiments", "nbgrad.determinism.api.diagnose", "experiments", "run0"),
    ("localisation", "nbgrad.determinism.api.localise", "localisation", "run0"),
    ("the chaos probe", "nbgrad.determinism.api.chaos_probe", "chaos probe", "run0"),
])
def test_an_interrupt_in_every_phase_says_truthfully_which_state_is_left(
        monkeypatch, phase, target, says, state):
    from nbgrad.namespace.snapshot import Snapshot

    w0 = np.zeros(2)
    ns = {"np": np, "W": np.zeros(2), "W0": w0}
    np.random.seed(3)
    if target == "second Snapshot.take":
        take = Snapshot.take.__func__
        calls = []

        def second_interrupts(cls, *args, **kwargs):
            calls.append(1)
            if len(calls) == 2:
                raise KeyboardInterrupt
            return take(cls, *args, **kwargs)
        monkeypatch.setattr(Snapshot, "take", classmethod(second_interrupts))
    else:
        monkeypatch.setattr(target, _interrupt)
    with pytest.raises(KeyboardInterrupt, match=says):
        check_determinism(DIVERGING, ns)
    if state == "before":
        assert ns["W"].tolist() == [0.0, 0.0] and w0.tolist() == [0.0, 0.0]
    else:  # exactly one plain run's worth
        np.random.seed(3)
        plain = {"np": np, "W": np.zeros(2), "W0": np.zeros(2)}
        exec(DIVERGING, plain)
        assert ns["W0"] is w0 and w0.tolist() == plain["W0"].tolist() == [3.0, 0.0]
        assert ns["W"].tobytes() == plain["W"].tobytes()


def test_the_error_report_of_one_run_says_one_run_not_1_runs():
    report = check_determinism("x = 1\nraise ValueError('boom')\n", {})
    text = repr(report)
    assert "1 run," in text and "1 runs" not in text
