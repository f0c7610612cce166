"""Nothing lost: after the check the namespace holds exactly what one plain run leaves."""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_determinism_support import cell_namespace

from nbgrad import check_determinism

SETUP = """\
import numpy as np
import random

class Net:
    def __init__(self):
        self.AB = np.arange(12.0).reshape(3, 4)
        self.B_t = [0]
        self.history = []

NN = Net()
W = np.ones(5)
params = [W, np.zeros(3)]
rng = np.random.default_rng(11)
"""

# Draws from three unseeded generators (so reruns diverge and run many times),
# rebinds an attribute, mutates arrays in place, appends, creates names.
CELL = """\
for step in range(4):
    noise = np.random.normal(size=5) + rng.normal(size=5) + random.random()
    W += 0.1 * noise
    NN.AB = NN.AB * 0.5 + step
    NN.B_t = NN.AB[0].copy()
    NN.history.append(float(W.sum()))
    params[1][step % 3] += 1.0
    created = step
"""


def state(ns: dict) -> dict:
    """Everything the cell can change, as comparable bytes."""
    net = ns["NN"]
    return {
        "names": sorted(n for n in ns if not n.startswith("__")),
        "W": ns["W"].tobytes(), "params": [p.tobytes() for p in ns["params"]],
        "params_is_W": ns["params"][0] is ns["W"],
        "AB": net.AB.tobytes(), "B_t": np.asarray(net.B_t).tobytes(),
        "history": list(net.history), "created": ns.get("created"), "step": ns.get("step"),
        "noise": ns["noise"].tobytes(),
        "rng": ns["rng"].bit_generator.state,
        "np_global": repr(np.random.get_state(legacy=False)),
        "py_random": random.getstate(),
    }


def fresh(name: str) -> dict:
    np.random.seed(5)
    random.seed(6)
    return cell_namespace(SETUP, name)


@pytest.mark.parametrize("runs", [2, 3])
def test_namespace_equals_one_plain_run_bit_for_bit(runs):
    plain = fresh("restore-plain")
    exec(CELL, plain)
    expected = state(plain)

    checked = fresh("restore-checked")
    objects = (checked["NN"], checked["W"], checked["params"], checked["NN"].history)
    report = check_determinism(CELL, checked, runs=runs)
    assert report.first_divergence["cause"] == "unseeded_rng"
    assert report.to_dict()["restored"] == "run0"
    assert state(checked) == expected
    net, w, params, history = objects
    assert checked["NN"] is net and checked["W"] is w and checked["params"] is params
    assert net.history is history


def test_deterministic_cell_also_leaves_one_plain_run():
    cell = "for step in range(3):\n    W *= 2.0\n    NN.history.append(float(W[0]))\n"
    plain = fresh("restore-plain-det")
    exec(cell, plain)
    checked = fresh("restore-checked-det")
    assert check_determinism(cell, checked, runs=3).deterministic
    assert checked["W"].tobytes() == plain["W"].tobytes() == (np.ones(5) * 8).tobytes()
    assert checked["NN"].history == plain["NN"].history == [2.0, 4.0, 8.0]


def test_changed_arrays_are_tracked_by_default_and_untouched_ones_are_not():
    ns = cell_namespace("import numpy as np\nA = np.ones(3)\nB = np.ones(3)\n"
                        "def bump():\n    A[0] += 1\n", "tracking")
    report = check_determinism("for i in range(2):\n    bump()\n", ns).to_dict()
    assert "A" in report["tracked"] and "B" not in report["tracked"]
    assert ns["A"][0] == 3.0


#: Over api.FINGERPRINT_ABOVE_BYTES: run 0's end snapshot keeps these by digest, not a copy.
LARGE = 2**20  # float64 elements, 8 MB


def test_a_large_array_run_0_changed_is_not_copied_and_is_put_back_without_a_replay():
    calls = []
    w = np.ones(LARGE)
    ns = {"W": w}

    def cell():  # deterministic: the rerun leaves run 0's bytes, nothing to replay
        calls.append(1)
        for _ in range(3):
            ns["W"] *= 0.5

    report = check_determinism(cell, ns)
    assert report.to_dict()["deterministic"] is True and len(calls) == 2
    assert ns["W"] is w and np.array_equal(w, np.full(LARGE, 0.125))


LARGE_DIVERGING = """\
for i in range(3):
    W += np.random.normal(size=W.size)
    W[:8] = np.empty(8)
"""


@pytest.mark.filterwarnings("ignore:after the determinism check of")
def test_a_large_array_a_later_run_overwrote_is_replayed_as_run_0_without_poison():
    # Unseeded draws diverge (experiments, localisation, chaos probe all rewrite W in place),
    # and W[:8] takes never-written memory: the reruns poison it, the replay of run 0 must not.
    from nbgrad.determinism.poison import OBSERVED_POISONS

    w = np.zeros(LARGE)
    ns = {"np": np, "W": w}
    np.random.seed(5)
    report = check_determinism(LARGE_DIVERGING, ns)
    generator_after_check = np.random.get_state()[1].copy()
    assert report.to_dict()["deterministic"] is False
    np.random.seed(5)
    plain = {"np": np, "W": np.zeros(LARGE)}
    exec(LARGE_DIVERGING, plain)
    assert ns["W"] is w
    assert w[8:].tobytes() == plain["W"][8:].tobytes()
    assert np.array_equal(generator_after_check, np.random.get_state()[1])
    head = w[:8].view(np.uint8)
    assert not any((head == byte).all() for byte in OBSERVED_POISONS)


LARGE_UNSEEDED = "for i in range(3):\n    W += np.random.normal(size=W.size)\n"


def test_an_interrupt_in_the_experiments_replays_run_0_into_a_large_array(monkeypatch):
    w = np.zeros(LARGE)
    ns = {"np": np, "W": w}

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("nbgrad.determinism.api.diagnose", interrupted)
    np.random.seed(6)
    with pytest.raises(KeyboardInterrupt, match=r"experiments.*state after run 0"):
        check_determinism(LARGE_UNSEEDED, ns)
    np.random.seed(6)
    plain = {"np": np, "W": np.zeros(LARGE)}
    exec(LARGE_UNSEEDED, plain)
    assert ns["W"] is w and w.tobytes() == plain["W"].tobytes()


def test_a_replay_that_differs_from_run_0_says_so():
    calls = []  # outside the namespace: every run of the cell sees a different count
    w = np.zeros(LARGE)
    ns = {"W": w}

    def cell():
        calls.append(1)
        ns["W"] += len(calls)

    with pytest.warns(RuntimeWarning, match="a replay of run 0 .* differs from run 0"):
        report = check_determinism(cell, ns)
    assert report.to_dict()["deterministic"] is False
    assert ns["W"] is w and np.all(w == len(calls))  # the replay, the last run, is left
