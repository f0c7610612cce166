"""Cells a student or researcher really writes, checked the way they would use them.

Each test here reproduces a problem found by using ``%%determinism`` and
``check_determinism`` like a user: the verdict, the cause, the line, the
message, and what the namespace holds afterwards.
"""

from __future__ import annotations

import argparse
from collections import deque

import numpy as np
import pytest
from test_determinism_support import cell_namespace

from nbgrad import check_determinism
from nbgrad.errors import SnapshotError, UsageError

#: A helper from an earlier cell that returns a Python float computed from ``np.empty``.
HELPER = """\
import numpy as np


def score(x):
    g = np.empty(3)
    g += x
    return float(g.sum())
"""


def test_results_appended_to_a_list_from_an_earlier_cell_are_compared():
    """The list is the only thing the loop changes: it must not come out "deterministic"."""
    ns = cell_namespace(HELPER + "losses = []\n", "user-list")
    report = check_determinism("for i in range(3):\n    losses.append(score(i + 1.0))\n", ns)
    data = report.to_dict()
    assert not report.deterministic and "losses" in data["tracked"]
    divergence = report.first_divergence
    assert divergence["cause"] == "uninitialized_memory"
    assert (divergence["function"], divergence["variable"]) == ("score", "g")
    assert len(ns["losses"]) == 3  # one run's items, not two


def test_results_stored_in_a_dict_are_compared():
    ns = cell_namespace(HELPER + "history = {}\n", "user-dict")
    report = check_determinism("for i in range(3):\n    history[i] = score(i + 1.0)\n", ns)
    assert not report.deterministic and "history" in report.to_dict()["tracked"]
    assert report.first_divergence["cause"] == "uninitialized_memory"


def test_list_attribute_of_a_model_object_is_compared(shell, run_cell):
    run_cell(HELPER + "class Model:\n    pass\nNN = Model()\nNN.history = []\n")
    report = run_cell("%%determinism\nfor i in range(2):\n    NN.history.append(score(1.0))\n")
    assert not report.deterministic and "NN.history" in report.to_dict()["tracked"]
    assert len(shell.user_ns["NN"].history) == 2


def test_plain_data_the_loop_does_not_touch_is_not_tracked():
    ns = cell_namespace("losses = [1.0]\nsettings = {'lr': 0.1}\nn = 3\nW = [0.0]\n", "user-idle")
    report = check_determinism("for i in range(n):\n    W[0] += settings['lr']\n", ns)
    assert report.deterministic
    assert report.to_dict()["tracked"] == ["i", "W"]


def test_a_clean_list_filling_loop_is_deterministic_and_keeps_one_run_of_items():
    ns = cell_namespace("import numpy as np\nlosses = []\nlog = {'steps': []}\n", "user-clean")
    cell = ("for i in range(4):\n    losses.append(float(np.sqrt(i)))\n"
            "    log['steps'].append(i)\n")
    report = check_determinism(cell, ns)
    assert report.deterministic and {"losses", "log"} <= set(report.to_dict()["tracked"])
    assert ns["losses"] == [float(np.sqrt(i)) for i in range(4)]
    assert ns["log"] == {"steps": [0, 1, 2, 3]}


def test_dicts_of_objects_do_not_diverge_through_their_addresses():
    ns = cell_namespace("class Layer:\n    pass\n", "user-objects")
    report = check_determinism("layers = {}\nfor i in range(2):\n    layers[i] = Layer()\n", ns)
    assert report.deterministic


@pytest.mark.parametrize("name", ["nothere", "NN.nothere"])
def test_tracking_a_name_that_does_not_exist_is_refused_before_running(name):
    ns = cell_namespace("class M:\n    pass\nNN = M()\nW = [0.0]\n", "user-track")
    with pytest.raises(UsageError, match=f"cannot track '{name}'.*not in the namespace"):
        check_determinism("for i in range(2):\n    W[0] += 1\n", ns, track=[name])
    assert ns["W"] == [0.0]  # nothing ran


def test_tracking_a_name_the_cell_creates_is_accepted():
    report = check_determinism("for i in range(2):\n    loss = i * 2.0\n", {}, track="loss")
    assert report.deterministic and report.to_dict()["tracked"] == ["loss"]


def test_error_report_lists_only_what_run_0_changed():
    ns = cell_namespace("import numpy as np\nW = np.zeros(3)\nbig = np.ones(1000)\n",
                        "user-error")
    report = check_determinism("for i in range(3):\n    W += 1\n    if i == 1:\n"
                               "        raise ValueError('boom')\n", ns)
    data = report.to_dict()
    assert data["status"] == "error" and "big" not in data["tracked"] and "W" in data["tracked"]


def test_a_tiny_snapshot_limit_is_stated_in_readable_units():
    ns = {"W": np.zeros(1000)}
    with pytest.raises(SnapshotError, match=r"needs 7\.8 KB but the limit you set is 1\.0 KB"):
        check_determinism("W += 1", ns, max_snapshot_bytes=1024)


def test_unseeded_default_rng_created_in_the_cell_is_an_unseeded_generator():
    """OS entropy made identical reruns differ, which was reported as a non-deterministic op."""
    ns = cell_namespace("import numpy as np\nW = np.zeros(3)\n", "user-default-rng")
    cell = "rng = np.random.default_rng()\nfor i in range(3):\n    W += rng.normal(size=3)\n"
    divergence = check_determinism(cell, ns).first_divergence
    assert divergence["cause"] == "unseeded_rng"
    assert (divergence["step"], divergence["line"], divergence["variable"]) == (0, 3, "W")


def test_unseeded_default_rng_imported_by_name_in_a_helper_is_found():
    setup = ("from numpy.random import default_rng\n\n\ndef noise():\n"
             "    return default_rng().normal()\n\n\nvalues = []\n")
    ns = cell_namespace(setup, "user-default-rng-alias")
    report = check_determinism("for i in range(2):\n    values.append(noise())\n", ns)
    assert report.first_divergence["cause"] == "unseeded_rng"
    assert ns["default_rng"] is np.random.default_rng  # the alias is put back


def test_seeded_default_rng_in_the_cell_is_deterministic():
    ns = cell_namespace("import numpy as np\nW = np.zeros(3)\n", "user-seeded-rng")
    cell = "rng = np.random.default_rng(5)\nfor i in range(3):\n    W += rng.normal(size=3)\n"
    assert check_determinism(cell, ns).deterministic


def test_nan_on_one_side_is_not_reported_as_zero_relative_difference():
    from nbgrad.determinism.difference import difference

    size = difference(np.array([1.0, 2.0]), np.array([1.0, np.nan]))
    assert size.max_abs is None and size.max_rel is None
    assert difference(np.array([np.nan]), np.array([np.nan])).max_rel == 0.0


def test_reruns_do_not_display_again(shell, run_cell):
    """In a kernel ``display()`` bypasses ``sys.stdout``: reruns duplicated every display."""
    shown = []
    shell.display_pub.publish = lambda data, **kwargs: shown.append(data["text/plain"])
    try:
        run_cell("W = np.zeros(2)")
        report = run_cell("%%determinism --runs 3\nfor i in range(2):\n"
                          "    display(f'loss {i}')\n    W += 1\n")
    finally:
        del shell.display_pub.publish
    assert report.deterministic
    assert shown == ["'loss 0'", "'loss 1'"]
    assert "publish" not in vars(shell.display_pub)


def test_preallocated_history_filled_one_element_per_step_is_deterministic():
    """``losses = np.empty(n)``; ``losses[e] = ...``: unwritten elements are not a divergence."""
    ns = cell_namespace("import numpy as np\n", "user-prealloc")
    cell = "losses = np.empty(4)\nfor e in range(4):\n    losses[e] = e * 0.5\n"
    report = check_determinism(cell, ns)
    assert report.deterministic, report.headline
    assert ns["losses"].tolist() == [0.0, 0.5, 1.0, 1.5]


def test_reading_the_unwritten_part_of_a_preallocated_array_still_diverges():
    ns = cell_namespace("import numpy as np\nW = np.zeros(1)\n", "user-prealloc-read")
    cell = "hist = np.empty(4)\nfor e in range(4):\n    hist[e] = e * 0.5\n    W += hist.sum()\n"
    divergence = check_determinism(cell, ns).first_divergence
    assert divergence["cause"] == "uninitialized_memory"
    assert (divergence["step"], divergence["line"], divergence["variable"]) == (0, 4, "W")
    assert divergence["allocation"]["line"] == 1


def test_without_poisoning_an_unexplained_divergence_says_poisoning_was_off():
    ns = cell_namespace("import numpy as np\nW = np.zeros(3)\n", "user-no-poison")
    cell = "for i in range(3):\n    W += np.empty(3) if i == 1 else 0\n"
    report = check_determinism(cell, ns, poison=False)
    if report.deterministic:  # the allocator happened to hand out identical garbage
        pytest.skip("np.empty returned the same bytes in every run")
    assert "poisoning was off" in report.first_divergence["explanation"]


def test_garbage_carried_out_by_a_return_value_is_found_in_the_function():
    """``g += 0`` leaves the poison intact (masked); the returned sum still carries it."""
    ns = cell_namespace(HELPER + "losses = []\n", "user-return")
    report = check_determinism("for i in range(3):\n    losses.append(score(i * 0.0))\n", ns)
    divergence = report.first_divergence
    assert (divergence["function"], divergence["variable"]) == ("score", "return value")
    assert divergence["allocation"]["source"] == "g = np.empty(3)"


def test_attribute_of_a_model_updated_at_cell_level_is_localised_to_its_line(shell, run_cell):
    run_cell("class Model:\n    def __init__(self):\n        self.b = np.zeros(3)\n"
             "    def grad(self):\n        g = np.empty(3)\n        g += 0.0\n        return g\n"
             "NN = Model()\n")
    report = run_cell("%%determinism\nfor i in range(2):\n    NN.b -= 0.1 * NN.grad()\n")
    divergence = report.first_divergence
    assert divergence["cause"] == "uninitialized_memory"
    assert (divergence["line"], divergence["variable"]) == (2, "NN.b")


CONTAINERS_SETUP = """\
import array
import argparse
from collections import deque


class Slotted:
    __slots__ = ("history",)

    def __init__(self):
        self.history = [0]


recent = deque(maxlen=100)
samples = array.array("d")
box = Slotted()
"""
CONTAINERS_CELL = ("for i in range(3):\n    recent.append(i)\n    samples.append(i * 0.5)\n"
                   "    box.history.append(i)\n")


def test_deque_array_and_slotted_objects_hold_one_run_of_items_afterwards():
    """The reruns appended to them again: after the check they held two runs' items."""
    plain = cell_namespace(CONTAINERS_SETUP, "user-containers-plain")
    exec(CONTAINERS_CELL, plain)
    checked = cell_namespace(CONTAINERS_SETUP, "user-containers")
    report = check_determinism(CONTAINERS_CELL, checked)
    assert report.deterministic
    assert checked["recent"] == plain["recent"] == deque([0, 1, 2])
    assert checked["samples"] == plain["samples"]
    assert checked["box"].history == plain["box"].history == [0, 0, 1, 2]
    assert {"recent", "samples", "box.history"} <= set(report.to_dict()["tracked"])


def test_divergence_recorded_only_in_a_deque_is_found():
    ns = cell_namespace(HELPER + "from collections import deque\nrecent = deque()\n", "user-dq")
    report = check_determinism("for i in range(2):\n    recent.append(score(1.0))\n", ns)
    assert not report.deterministic and len(ns["recent"]) == 2


def test_model_class_from_the_users_own_module_is_snapshotted(tmp_path, monkeypatch):
    """``from mynet import Net``: its weights were neither restored nor compared."""
    (tmp_path / "qa_user_net.py").write_text(
        "import numpy as np\n\n\nclass Net:\n    def __init__(self):\n"
        "        self.W = np.zeros(3)\n        self.history = []\n\n"
        "    def step(self):\n        self.W += 1\n"
        "        self.history.append(float(self.W.sum()))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ns = cell_namespace("from qa_user_net import Net\nnet = Net()\n", "user-module")
    report = check_determinism("for i in range(3):\n    net.step()\n", ns)
    assert report.deterministic and {"net.W", "net.history"} <= set(report.to_dict()["tracked"])
    assert ns["net"].W.tolist() == [3.0, 3.0, 3.0] and ns["net"].history == [3.0, 6.0, 9.0]


def test_library_objects_are_still_left_alone():
    from nbgrad.namespace.snapshot import is_plain_object

    assert not is_plain_object(np.lib.NumpyVersion("2.0.0"), None)  # site-packages
    assert not is_plain_object(argparse.Namespace(a=1), None)  # standard library


GENERATOR_SETUP = """\
import numpy as np


def batches():
    for i in range(3):
        yield np.full(2, float(i))


W = np.zeros(2)
"""


@pytest.mark.parametrize("cell", [
    "for xb in loader:\n    W += xb\n",
    "for i in range(3):\n    W += next(loader)\n",
])
def test_a_generator_from_an_earlier_cell_is_refused_before_running(cell):
    """Run 0 exhausted it, the rerun had no steps: "diverged, unknown cause"."""
    ns = cell_namespace(GENERATOR_SETUP + "loader = batches()\n", "user-generator")
    with pytest.raises(UsageError, match="`loader` is a generator created before the cell"):
        check_determinism(cell, ns)
    assert ns["W"].tolist() == [0.0, 0.0] and next(ns["loader"]).tolist() == [0.0, 0.0]


def test_a_generator_created_in_the_cell_is_fine():
    ns = cell_namespace(GENERATOR_SETUP, "user-generator-ok")
    report = check_determinism("loader = batches()\nfor xb in loader:\n    W += xb\n", ns)
    assert report.deterministic and report.to_dict()["steps"] == 3


def test_closure_state_of_an_optimiser_is_restored_and_compared():
    """``opt = make_sgd()`` keeps momentum in a closure: reruns started from run 0's end."""
    setup = ("import numpy as np\n\n\ndef make_sgd():\n    v = np.zeros(2)\n\n"
             "    def step(g):\n        v[:] = 0.9 * v + g\n        return v\n    return step\n\n\n"
             "opt = make_sgd()\nW = np.zeros(2)\n")
    cell = "for i in range(3):\n    W -= opt(np.ones(2))\n"
    plain = cell_namespace(setup, "user-closure-plain")
    exec(cell, plain)
    ns = cell_namespace(setup, "user-closure")
    report = check_determinism(cell, ns)
    assert report.deterministic, report.headline
    assert "opt.<v>" in report.to_dict()["tracked"]
    velocity = ns["opt"].__closure__[0].cell_contents
    assert velocity.tobytes() == plain["opt"].__closure__[0].cell_contents.tobytes()
    assert ns["W"].tobytes() == plain["W"].tobytes()


def test_size_of_a_divergence_in_a_dict_of_losses_is_reported():
    setup = ("import numpy as np\n\n\ndef count(x):\n    g = np.empty(3, dtype=np.int64)\n"
             "    g += x\n    return int(g.sum())\n\n\nhistory = {}\n")
    ns = cell_namespace(setup, "user-dict-size")
    report = check_determinism("for i in range(2):\n    history[i] = count(1)\n", ns)
    row = report.to_dict()["per_step"][0]
    assert row["diverged"] == ["history"] and row["by_variable"]["history"] is not None


def test_a_generator_from_an_earlier_cell_is_named_in_the_explanation():
    """Seeded in an earlier cell, drawn from in the loop: unseeded *in the cell*, and said so."""
    ns = cell_namespace("import numpy as np\nrng0 = np.random.default_rng(1)\nW = np.zeros(3)\n",
                        "user-rng0")
    divergence = check_determinism("for i in range(3):\n    W += rng0.normal(size=3)\n",
                                   ns).first_divergence
    assert divergence["cause"] == "unseeded_rng"
    assert "`rng0`, created before the cell" in divergence["explanation"]


def test_a_dict_of_arrays_is_tracked_through_its_arrays_only():
    ns = cell_namespace("import numpy as np\nparams = {'W1': np.ones(2), 'b1': np.zeros(2)}\n",
                        "user-params")
    report = check_determinism("for i in range(2):\n    params['W1'] = params['W1'] - 0.1\n", ns)
    assert report.deterministic and report.to_dict()["tracked"] == ["i", "params['W1']"]


@pytest.mark.parametrize("seeding", ["np.random.seed()", "random.seed()"])
def test_seeding_from_the_operating_system_is_an_unseeded_generator(seeding):
    ns = cell_namespace("import random\nimport numpy as np\nW = np.zeros(3)\n", "user-os-seed")
    cell = f"{seeding}\nfor i in range(2):\n    W += np.random.rand(3) + random.random()\n"
    assert check_determinism(cell, ns).first_divergence["cause"] == "unseeded_rng"
    assert np.random.seed.__module__ != __name__ and not hasattr(np.random.seed, "__wrapped__")


def test_tracking_a_global_that_a_notebook_function_creates_is_accepted():
    ns = cell_namespace("def train_step(i):\n    global last_loss\n    last_loss = i * 0.5\n",
                        "user-track-global")
    report = check_determinism("for i in range(2):\n    train_step(i)\n", ns, track="last_loss")
    assert report.deterministic and ns["last_loss"] == 0.5


def test_a_global_created_by_a_notebook_function_is_compared_by_default():
    setup = HELPER + "\n\ndef train_step():\n    global last_loss\n    last_loss = score(1.0)\n"
    ns = cell_namespace(setup, "user-global-default")
    report = check_determinism("for i in range(2):\n    train_step()\n", ns)
    assert not report.deterministic and "last_loss" in report.to_dict()["tracked"]


def test_an_array_left_unwritten_at_the_end_of_the_cell_is_not_a_divergence():
    """``g = np.empty(3)`` never written: it was reported "diverged after the last step"."""
    ns = cell_namespace("import numpy as np\nW = np.zeros(3)\n", "user-unwritten-end")
    assert check_determinism("for i in range(2):\n    g = np.empty(3)\n", ns).deterministic
    cell = "for i in range(2):\n    g = np.empty(3)\n    g += 1.0\n    W -= g\n"
    report = check_determinism(cell, ns)
    assert not report.deterministic and report.first_divergence["cause"] == "uninitialized_memory"


def test_run_0_reading_recycled_poison_bytes_is_still_caught():
    """numpy recycles freed buffers (an earlier check's 0xFF reruns) into the plain run 0.

    Run 0 then read the very bytes rerun 1 was poisoned with, and the check
    came out "deterministic"; the rerun must use a poison run 0 did not see.
    """
    ns = cell_namespace("import numpy as np\nW = np.zeros(3)\n", "user-recycled")
    cell = ("for i in range(2):\n    scratch = np.frombuffer(b'\\xff' * 24).copy()\n"
            "    del scratch\n    g = np.empty(3)\n    W -= g\n")
    report = check_determinism(cell, ns)
    assert not report.deterministic and report.first_divergence["cause"] == "uninitialized_memory"
    assert report.to_dict()["experiments"][0]["poison"] != "none vs 0xFF"


MODEL_CLASS = """\
import numpy as np


class Model:
    def __init__(self):
        self.W = np.zeros(3)

    def step(self):
        g = np.empty(3)
        g += 1.0
        self.W -= 0.1 * g
"""


def test_a_model_created_in_the_training_cell_has_its_arrays_compared(shell, run_cell):
    """``model = Model()`` in the cell: no snapshot holds it, and it came out deterministic."""
    run_cell(MODEL_CLASS)
    report = run_cell("%%determinism\nmodel = Model()\nfor i in range(3):\n    model.step()\n")
    assert not report.deterministic and "model.W" in report.to_dict()["tracked"]
    divergence = report.first_divergence
    assert (divergence["function"], divergence["variable"]) == ("step", "g")
    fixed = run_cell("%%determinism\nmodel = Model()\nfor i in range(3):\n    model.W -= 0.1\n")
    assert fixed.deterministic and set(fixed.to_dict()["tracked"]) == {"model.W", "i"}


def test_long_histories_are_digested_incrementally_and_exactly():
    """A 10⁴-step loop appending losses rehashed the whole list every step (quadratic)."""
    from nbgrad.determinism.digest import LIST_BLOCK, value_digest

    cache: dict = {}
    history = [float(i) for i in range(3 * LIST_BLOCK + 5)]
    first = value_digest(history, cache=cache)
    assert first == value_digest(list(history))  # the cache never changes the result
    assert len(cache[id(history)][2]) == 3  # the three full blocks are remembered
    history.append(1.0)
    assert value_digest(history, cache=cache) == value_digest(list(history)) != first
    changed = value_digest(history, cache=cache)
    history[7] = 0.5  # an early, in-place change is seen
    assert value_digest(history, cache=cache) == value_digest(list(history)) != changed
    history[-1] = -0.0  # in the partial last block, even 0.0 -> -0.0 is seen
    assert value_digest(history, cache=cache) == value_digest(list(history))


def test_a_long_loop_appending_to_a_history_is_checked_exactly():
    ns = cell_namespace(HELPER + "losses = []\n", "user-long-history")
    cell = ("for i in range(1500):\n    losses.append(i * 0.5)\n"
            "    if i == 1400:\n        losses.append(score(1.0))\n")
    report = check_determinism(cell, ns)
    assert report.first_divergence["step"] == 1400 and len(ns["losses"]) == 1501


def test_a_file_the_loop_reads_line_by_line_is_refused_but_a_log_file_is_fine(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("1\n2\n3\n")
    ns = cell_namespace("total = [0.0]\n", "user-file")
    ns["f"] = data.open()
    ns["log"] = (tmp_path / "log.txt").open("w")
    try:
        with pytest.raises(UsageError, match="`f` is a TextIOWrapper created before the cell"):
            check_determinism("for line in f:\n    total[0] += float(line)\n", ns)
        report = check_determinism("for i in range(2):\n    log.write(str(i))\n", ns)
        assert report.deterministic
    finally:
        ns["f"].close()
        ns["log"].close()


def test_a_slotted_object_created_in_the_cell_has_its_attributes_compared():
    setup = HELPER + ("\n\nclass Tracker:\n    __slots__ = ('history',)\n\n"
                      "    def __init__(self):\n        self.history = []\n\n"
                      "    def record(self):\n        self.history.append(score(1.0))\n")
    ns = cell_namespace(setup, "user-slots-cell")
    report = check_determinism("tracker = Tracker()\nfor i in range(2):\n    tracker.record()\n",
                               ns)
    assert not report.deterministic and "tracker.history" in report.to_dict()["tracked"]


def test_large_dicts_are_digested_once_per_change_and_exactly():
    """A 10⁵-entry vocabulary was rehashed item by item after every step of run 0."""
    from nbgrad.determinism.digest import LIST_BLOCK, value_digest

    cache: dict = {}
    vocab = {f"w{i}": i for i in range(2 * LIST_BLOCK)}
    first = value_digest(vocab, cache=cache)
    assert first == value_digest(vocab, cache=cache) == value_digest(dict(vocab))
    vocab["w3"] = 7
    assert value_digest(vocab, cache=cache) == value_digest(dict(vocab)) != first
    vocab["new"] = np.zeros(2)  # an array value: compared elementwise, no crash
    with_array = value_digest(vocab, cache=cache)
    vocab["new"] = np.ones(2)
    assert value_digest(vocab, cache=cache) == value_digest(dict(vocab)) != with_array


@pytest.mark.parametrize("cell", [
    "acc = np.empty(3)\nfor i in range(3):\n    acc += 1.0\n",
    "acc = np.empty(3)\nfor i in range(3):\n    acc += 1.0\nprint(acc)\n",
])
def test_accumulating_into_np_empty_is_caught_even_when_nan_poison_hides_the_read(cell):
    """NaN + x is the same NaN: the read looked "never written" against run 0."""
    ns = cell_namespace("import numpy as np\n", "user-acc")
    report = check_determinism(cell, ns)
    divergence = report.first_divergence
    assert divergence["cause"] == "uninitialized_memory" and divergence["variable"] == "acc"
    assert divergence["step"] == 0 and report.to_dict()["per_step"][0]["diverged"] == ["acc"]
    assert any(e["name"] == "never-written elements" and e["outcome"] == "differ"
               for e in report.to_dict()["experiments"])
