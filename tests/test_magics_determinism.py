"""``%%determinism`` / ``%determinism`` through a real IPython shell."""

from __future__ import annotations

import linecache
import pickle

import numpy as np
import pytest
from IPython.core.error import UsageError as IPythonUsageError

# Seed 000 in miniature: a gradient accumulated with += into np.empty memory.
SETUP = "W = np.linspace(0.0, 1.0, 8)\nx = np.ones(8)\n"
LOOP = """
losses = []
for step in range(5):
    g = np.{alloc}(8)
    g += W * x
    W = W - 0.1 * g
    losses.append(float(W.sum()))
"""


def plain_run(shell, source: str) -> bytes:
    """What one plain run of ``source`` leaves, computed on a copy of the namespace."""
    namespace = {name: shell.user_ns[name] for name in ("np", "W", "x")}
    namespace = {**namespace, "W": namespace["W"].copy()}
    exec(source, namespace)
    return pickle.dumps({name: namespace[name] for name in ("W", "losses", "g")})


def test_uninitialised_accumulator_is_found_at_its_line(shell, run_cell):
    run_cell(SETUP)
    report = run_cell("%%determinism" + LOOP.format(alloc="empty")).to_dict()
    divergence = report["first_divergence"]
    assert not report["deterministic"] and report["runs"] == 2 and report["steps"] == 5
    assert divergence["cause"] == "uninitialized_memory"
    assert (divergence["step"], divergence["line"]) == (0, 4)
    assert divergence["source"] == "g += W * x"  # read back from the registered cell source
    assert divergence["allocation"]["source"] == "g = np.empty(8)"


def test_fixed_loop_is_deterministic_and_leaves_what_one_plain_run_leaves(shell, run_cell):
    run_cell(SETUP)
    expected = plain_run(shell, LOOP.format(alloc="zeros"))
    report = run_cell("%%determinism" + LOOP.format(alloc="zeros")).to_dict()
    assert report["deterministic"] and report["first_divergence"] is None
    assert report["restored"] == "run0"
    assert pickle.dumps({name: shell.user_ns[name] for name in ("W", "losses", "g")}) == expected


def test_cell_source_is_registered_under_a_stable_name(shell, run_cell):
    run_cell(SETUP)
    cell = LOOP.format(alloc="empty")
    first = run_cell("%%determinism" + cell).to_dict()
    second = run_cell("%%determinism" + cell).to_dict()
    assert first["first_divergence"]["source"] == second["first_divergence"]["source"]
    names = [name for name in linecache.cache if name.startswith("<nbgrad-determinism-")]
    body = cell.lstrip("\n").splitlines(keepends=True)  # as IPython hands the cell over
    assert [linecache.getlines(name) for name in names].count(body) == 1


def test_runs_and_track_options(run_cell):
    run_cell(SETUP)
    report = run_cell("%%determinism --runs 3 --track losses" + LOOP.format(alloc="zeros"))
    data = report.to_dict()
    assert data["runs"] == 3 and data["tracked"] == ["losses"]
    assert all(set(step["by_variable"]) == {"losses"} for step in data["per_step"])


def test_no_poison_runs_without_poisoning(run_cell):
    run_cell(SETUP)
    data = run_cell("%%determinism --no-poison" + LOOP.format(alloc="zeros")).to_dict()
    assert data["deterministic"]
    assert all("0x" not in experiment["poison"] for experiment in data["experiments"])
    poisoned = run_cell("%%determinism" + LOOP.format(alloc="zeros")).to_dict()
    assert any("0x" in experiment["poison"] for experiment in poisoned["experiments"])


def test_compare_numpy_adds_the_per_step_comparison(run_cell):
    run_cell(SETUP)
    data = run_cell("%%determinism --compare-numpy" + LOOP.format(alloc="zeros")).to_dict()
    assert data["comparison"]["reference"] == "numpy"
    assert [step["step"] for step in data["comparison"]["per_step"]] == list(range(5))


def test_snapshot_limit_refuses_before_running(shell, capsys, run_cell):
    run_cell("big = np.zeros(2**18)\ntotal = 0.0")  # 2 MB
    result = shell.run_cell("%%determinism --max-snapshot-mb 1\nfor i in range(3):\n    total += 1")
    assert isinstance(result.error_in_exec, IPythonUsageError)
    err = capsys.readouterr().err
    assert "2.0 MB" in err and "big" in err
    assert shell.user_ns["total"] == 0.0  # refused before the cell ran at all


def test_line_form_finds_an_unseeded_generator(run_cell):
    run_cell("rng = np.random.default_rng()\nacc = 0.0")
    data = run_cell("%determinism for i in range(3): acc = acc + rng.random()").to_dict()
    assert data["first_divergence"]["cause"] == "unseeded_rng"
    seeded = run_cell(
        "%determinism --runs 3 -- for i in range(3): acc += np.random.default_rng(i).random()"
    ).to_dict()
    assert seeded["deterministic"] and seeded["runs"] == 3


def test_cell_that_raises_in_run_0_shows_its_report_then_stops_like_a_plain_run(shell, capsys):
    result = shell.run_cell(
        "%%determinism\nfor i in range(3):\n    if i == 1:\n        raise ValueError('boom')\n"
    )
    assert not result.success, "Run All must stop at this cell, as without the magic"
    assert isinstance(result.error_in_exec, IPythonUsageError)
    message = str(result.error_in_exec)
    assert "raised ValueError in run 0" in message and "boom" in message
    assert "raise ValueError('boom')" in message  # the user's traceback, not nbgrad's frames
    assert "nbgrad/" not in message
    shown = capsys.readouterr().out
    assert "nbgrad determinism" in shown and "ERROR" in shown.upper()  # the report came first
    assert shell.user_ns["i"] == 1  # what a plain run that raised at i == 1 leaves


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%%determinism --bogus\nx = 1", "unrecognized arguments: --bogus"),
        ("%%determinism --runs 1\nx = 1", "argument --runs: expected an integer from 2 to 100"),
        ("%%determinism\n\n", "needs the cell"),
        ("%determinism --runs 3 x = 1", "end the options with a bare --"),
    ],
)
def test_bad_usage_is_a_one_line_message(shell, capsys, cell, message):
    result = shell.run_cell(cell)
    assert isinstance(result.error_in_exec, IPythonUsageError)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_keyboard_interrupt_restores_the_namespace(shell, run_cell):
    run_cell(SETUP + "import itertools\nticks = itertools.count()")
    before = pickle.dumps({name: shell.user_ns[name] for name in ("W", "x")})
    result = shell.run_cell(
        "%%determinism\nfor step in range(4):\n"
        "    W = W * 2\n"
        "    if next(ticks) == 6:\n"
        "        raise KeyboardInterrupt\n"
    )
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    after = {name: shell.user_ns[name] for name in ("W", "x")}
    # Interrupted in the rerun: the namespace is as before the cell or as after run 0.
    after_run0 = {"W": np.linspace(0.0, 1.0, 8) * 16, "x": np.ones(8)}
    assert pickle.dumps(after) in (before, pickle.dumps(after_run0))
