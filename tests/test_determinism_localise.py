"""Localisation wherever the user's code is (issue 13, class 4): the user's own .py files,
attributes written by methods, entries of local containers, long lists, and allocators
bound in the user's modules."""

from __future__ import annotations

import sys

import pytest
from test_determinism_support import cell_namespace, line_of

from nbgrad import check_determinism

SOLVER = """\
import numpy as np


class Solver:
    def __init__(self, model, X, batch_size=4):
        self.model = model
        self.X = X
        self.batch_size = batch_size
        self.loss_history = []

    def _step(self):
        num_train = self.X.shape[0]
        batch_mask = np.random.choice(num_train, self.batch_size)
        X_batch = self.X[batch_mask]
        loss = self.model.update(X_batch)
        self.loss_history.append(loss)
"""

MODEL = """\
import numpy as np

class TwoLayerNet:
    def __init__(self):
        self.W2 = np.linspace(0.0, 1.0, 3)
        self.dW2 = np.zeros(3)

    def update(self, X):
        self.dW2 += X.sum(axis=0) * 0.01
        self.W2 -= self.dW2
        return float(self.W2.sum())
"""


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    """Write modules next to the notebook; yields a function that writes one and names it."""
    written = []

    def write(stem: str, source: str) -> str:
        name = f"{stem}_{tmp_path.name.replace('-', '_')}"
        (tmp_path / f"{name}.py").write_text(source)
        written.append(name)
        return name

    monkeypatch.syspath_prepend(str(tmp_path))
    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_an_unseeded_draw_in_the_users_solver_py_is_named_in_that_file(user_files):
    solver = user_files("qa_solver", SOLVER)
    ns = cell_namespace(MODEL + f"from {solver} import Solver\n"
                        "X = np.arange(60.0).reshape(20, 3)\nsolver = Solver(TwoLayerNet(), X)\n",
                        "loc-solver")
    report = check_determinism("for it in range(5):\n    solver._step()\n", ns)
    d = report.first_divergence
    assert d["cause"] == "unseeded_rng"
    assert (d["function"], d["line"]) == ("_step", line_of(SOLVER, "np.random.choice")), (
        report.headline, sys.gettrace(), d["file"])
    assert d["file"].endswith(f"{solver}.py") and "np.random.choice" in d["source"]
    assert f"in {solver}.py" in report.headline


def test_an_attribute_written_in_a_method_is_digested_and_its_line_named():
    setup = MODEL.replace("self.dW2 = np.zeros(3)", "self.dW2 = np.zeros(3)\n"
                          "        self.noise = np.random.default_rng()")
    setup = setup.replace("self.dW2 += X.sum(axis=0) * 0.01",
                          "self.dW2 += X.sum(axis=0) * 0.01 + self.noise.normal(size=3)")
    ns = cell_namespace(setup + "net = TwoLayerNet()\nX = np.ones((4, 3))\n", "loc-attr")
    d = check_determinism("for i in range(3):\n    loss = net.update(X)\n", ns).first_divergence
    assert d["variable"] == "self.dW2"
    assert (d["function"], d["line"]) == ("update", line_of(setup, "self.dW2 +="))


BUFFERS = """\
import numpy as np

def backward(W, x):
    bufs = {"g": np.empty_like(W)}
    bufs["g"] += x
    return W - 0.1 * bufs["g"]

W = np.ones(4)
"""


def test_an_empty_buffer_in_a_local_dict_names_the_read_and_the_allocation_separately():
    ns = cell_namespace(BUFFERS, "loc-dict")
    d = check_determinism("for i in range(3):\n    W = backward(W, np.full(4, 1.0))\n",
                          ns).first_divergence
    assert d["cause"] == "uninitialized_memory"
    assert d["allocation"]["line"] == line_of(BUFFERS, "np.empty_like(W)")
    assert d["line"] != d["allocation"]["line"]
    assert d["line"] in (line_of(BUFFERS, 'bufs["g"] += x'), line_of(BUFFERS, "return W - 0.1"))
    assert d["fix"]["after"] == 'bufs = {"g": np.zeros_like(W)}'


def test_the_line_that_shuffles_a_long_list_is_named_not_the_next_one():
    setup = "import random\nimport numpy as np\norder = list(range(200))\nw = np.zeros(200)\n"
    cell = ("for epoch in range(3):\n    random.shuffle(order)\n"
            "    w = w + np.array(order) * 1e-3\n")
    d = check_determinism(cell, cell_namespace(setup, "loc-shuffle")).first_divergence
    assert d["cause"] == "unseeded_rng"
    assert d["source"] == "random.shuffle(order)" and d["variable"] == "order"


def test_empty_imported_by_name_in_the_users_module_is_poisoned(user_files):
    name = user_files("qa_bufs", "from numpy import empty\n\n\ndef grad_buffer(n):\n"
                                 "    return empty(n)\n")
    ns = cell_namespace(f"import numpy as np\nfrom {name} import grad_buffer\nW = np.ones(3)\n",
                        "loc-module-empty")
    cell = "for i in range(3):\n    g = grad_buffer(3)\n    g += W\n    W = W - 0.1 * g\n"
    d = check_determinism(cell, ns).first_divergence
    assert d is not None and d["cause"] == "uninitialized_memory", d and d["counts"]
    assert d["allocation"]["function"] == "grad_buffer"
    assert getattr(sys.modules[name].empty, "__nbgrad_original__", None) is None  # put back
