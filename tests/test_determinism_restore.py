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
