"""Complete state: what a user's functions, classes and modules keep between calls is rerun
from the same start and left as one plain run leaves it (issue 13, class 1)."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from test_determinism_support import cell_namespace

from nbgrad import check_determinism

ADAM_SETUP = """\
import numpy as np

def adam(g, state={}):
    state["t"] = state.get("t", 0) + 1
    state["m"] = 0.9 * state.get("m", 0.0) + 0.1 * g
    return state["m"] / (1 - 0.9 ** state["t"])

def momentum(g, *, cache={}):
    cache["v"] = 0.5 * cache.get("v", 0.0) + g
    return cache["v"]

class Trainer:
    global_step = 0
    history = []

    def step(self, w, g):
        Trainer.global_step += 1
        self.history.append(float(g.sum()))
        return w - 0.01 * g * Trainer.global_step

trainer = Trainer()
w = np.linspace(-1.0, 1.0, 6)
"""

ADAM_CELL = """\
for i in range(8):
    g = w * w - 0.5
    w = trainer.step(w, adam(g) + momentum(g))
"""


def plain(setup: str, cell: str) -> dict:
    """The namespace one plain ``exec`` of setup then cell leaves."""
    ns = cell_namespace(setup, "plain-setup")
    exec(compile(cell, "<nbgrad-cell-plain>", "exec"), ns)
    return ns


def test_mutable_defaults_and_class_attributes_start_every_run_from_the_snapshot():
    ns = cell_namespace(ADAM_SETUP)
    report = check_determinism(ADAM_CELL, ns)
    expected = plain(ADAM_SETUP, ADAM_CELL)
    assert report.deterministic, report.headline
    assert ns["Trainer"].global_step == expected["Trainer"].global_step == 8
    assert ns["adam"].__defaults__[0]["t"] == 8
    cache, expected_cache = (n["momentum"].__kwdefaults__["cache"] for n in (ns, expected))
    assert cache["v"].tobytes() == expected_cache["v"].tobytes()
    assert ns["Trainer"].history == expected["Trainer"].history
    assert ns["w"].tobytes() == expected["w"].tobytes()


def test_a_stale_counter_in_a_default_would_have_diverged_and_is_restored_bit_for_bit():
    """The culprit twin: a loop that *reads* a default's counter is still deterministic."""
    setup = ADAM_SETUP + "\nscale = np.ones(6)\n"
    cell = ADAM_CELL + "scale = scale * adam.__defaults__[0]['t']\n"
    ns = cell_namespace(setup)
    report = check_determinism(cell, ns, runs=3)
    assert report.deterministic, report.headline
    assert ns["scale"].tobytes() == plain(setup, cell)["scale"].tobytes()


MODULE = """\
import numpy as np

velocity = np.zeros(4)
n_updates = 0
log = []

def sgd(w, g, lr=0.1):
    global velocity, n_updates
    velocity = 0.9 * velocity + g
    n_updates += 1
    log.append(n_updates)
    return w - lr * velocity
"""


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """A module of the user's own, next to the notebook (``import nnutil``), freshly imported."""
    name = f"qa_nnutil_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))

    def load():
        sys.modules.pop(name, None)
        return importlib.import_module(name)

    yield name, load
    sys.modules.pop(name, None)


@pytest.mark.parametrize("binding", ["import {m} as nnutil", "from {m} import sgd"])
def test_globals_of_the_users_module_are_snapshotted(user_module, binding):
    name, load = user_module
    load()
    ns = cell_namespace(f"import numpy as np\nimport {name}\n{binding.format(m=name)}\n"
                        "w = np.ones(4)\n")
    step = "nnutil.sgd" if "as nnutil" in binding else "sgd"
    cell = f"for i in range(8):\n    w = {step}(w, w * 0.5)\n"
    report = check_determinism(cell, ns, runs=3)
    module = sys.modules[name]
    assert report.deterministic, report.headline
    assert module.n_updates == 8, "one plain run's worth of updates, not 24"
    assert module.log == list(range(1, 9))
    fresh = load()
    w = np.ones(4)
    for _ in range(8):
        w = fresh.sgd(w, w * 0.5)
    assert module.velocity.tobytes() == fresh.velocity.tobytes()


def _reordering_set() -> str:
    """Setup of a set whose iteration order changes when it is rebuilt from its items."""
    return ("vocab = set(range(40))\nfor i in range(35):\n    vocab.discard(i)\n"
            "vocab.update([100, 200, 300])\n")


def test_a_set_the_cell_only_reads_keeps_its_iteration_order():
    setup = "import numpy as np\n" + _reordering_set()
    ns = cell_namespace(setup)
    before = list(ns["vocab"])
    assert before != list(set(before)), "precondition: rebuilding would reorder this set"
    cell = ("order = []\nfor word in vocab:\n    order.append(word)\n"
            "x = np.array(order, dtype=float)\nx = x * 0.5\n")
    report = check_determinism(cell, ns, runs=3)
    assert report.deterministic, report.headline
    assert list(ns["vocab"]) == before
    assert ns["order"] == plain(setup, cell)["order"]


def test_patched_puts_back_own_inherited_slot_and_dict_entries_also_on_interrupt():
    from nbgrad.namespace.patch import patched

    class Publisher:
        def publish(self):
            return "class"

    def step(n, alloc=np.empty):
        return alloc(n)

    publisher, scope = Publisher(), {"f": len}
    with pytest.raises(KeyboardInterrupt), patched(publisher, publish=lambda: "muted"), \
            patched(step, __defaults__=(np.zeros,)), patched(scope, f=abs, g=min):
        assert publisher.publish() == "muted" and step(2).tolist() == [0.0, 0.0]
        scope["g"] = max  # the user's own binding during the block stands
        raise KeyboardInterrupt
    assert publisher.publish() == "class" and "publish" not in vars(publisher)
    assert step.__defaults__ == (np.empty,)
    assert scope == {"f": len, "g": max}
