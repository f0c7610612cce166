"""Cells shared by the determinism tests, and tests of how nbgrad recognises notebook code."""

from __future__ import annotations

import numpy as np

from nbgrad.namespace.usercode import context_lines, is_notebook_file, register_source

#: A small RNN with hand-written BPTT in the style of seed 000: the bias
#: gradient starts from ``xp.empty`` and is accumulated with ``+=``.
SEED000_SETUP = """\
import numpy as np
xp = np
T, H, D = 4, 6, 3
init = np.random.default_rng(7)
Wx = init.normal(size=(H, D)) * 0.3
Wh = init.normal(size=(H, H)) * 0.3
bias_c = np.zeros(H)
data = init.normal(size=(5, T, D))
targets = init.normal(size=(5, H))
learning_rate = 0.05


def forward(x):
    h = xp.zeros((T + 1, H))
    for t in range(T):
        h[t] = xp.tanh(Wx @ x[t] + Wh @ h[t - 1] + bias_c)
    return h


def bptt(x, y):
    global Wx, Wh, bias_c
    h = forward(x)
    dLdh = h[T - 1] - y
    dLdb_c = xp.empty(H)
    dLdWx = xp.zeros_like(Wx)
    for t in range(T - 1, -1, -1):
        dz = dLdh * (1 - h[t] * h[t])
        dLdb_c += dz
        dLdWx += xp.outer(dz, x[t])
        dLdh = Wh.T @ dz
    Wx = Wx - learning_rate * dLdWx
    bias_c = bias_c - learning_rate * dLdb_c
    return float(0.5 * ((h[T - 1] - y) ** 2).sum())
"""

SEED000_FIXED = SEED000_SETUP.replace("dLdb_c = xp.empty(H)", "dLdb_c = xp.zeros(H)")

TRAIN_CELL = """\
losses = []
for i in range(len(data)):
    loss = bptt(data[i], targets[i])
    losses.append(loss)
"""


def cell_namespace(source: str, name: str = "setup", namespace: dict | None = None) -> dict:
    """Run ``source`` as a notebook cell would (its own file name, source in linecache)."""
    filename = f"<nbgrad-cell-{name}>"
    register_source(source, filename=filename)
    namespace = {} if namespace is None else namespace
    exec(compile(source, filename, "exec"), namespace)
    return namespace


def line_of(source: str, text: str) -> int:
    """1-based line number of the first line containing ``text``."""
    return next(n for n, line in enumerate(source.splitlines(), 1) if text in line)


def test_notebook_files_are_recognised_and_libraries_are_not():
    assert is_notebook_file("/tmp/ipykernel_4242/3051614423.py")
    assert is_notebook_file("<ipython-input-3-0123abcd>")
    assert is_notebook_file("<nbgrad-cell-7>")
    assert is_notebook_file("/home/u/train.py", cell_filename="/home/u/train.py")
    assert not is_notebook_file(np.__file__)
    assert not is_notebook_file("/tmp/other/3051614423.py")


def test_registered_cell_source_gives_context_lines():
    ns = cell_namespace(SEED000_SETUP, "support")
    line = line_of(SEED000_SETUP, "dLdb_c += dz")
    context = context_lines(ns["bptt"].__code__.co_filename, line, radius=1)
    assert [c["line"] for c in context] == [line - 1, line, line + 1]
    assert context[1]["text"].strip() == "dLdb_c += dz"
