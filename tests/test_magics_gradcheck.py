"""``%gradcheck`` / ``%%gradcheck`` through a real IPython shell.

Each test runs the magic exactly as a notebook would (``shell.run_cell``) and
asserts on the report the cell returns, on the message the user sees, and on
the namespace afterwards, which must be bit for bit what it was.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest
from IPython.core.error import UsageError as IPythonUsageError

from nbgrad.gradcheck import gradcheck

# Seed 003's cost, ported to numpy, with the regularisation bug that keeps
# Theta2's bias column; ``FIXED`` drops both bias columns as intended.
SEED003 = '''
def sigmoid(z):
    return 1 / (1 + np.exp(-z))

def nnCost(nn_params, X, y, lambda_, n_in, n_hidden, n_labels, fixed=False):
    Theta1 = nn_params[:n_hidden * (n_in + 1)].reshape(n_hidden, n_in + 1)
    Theta2 = nn_params[n_hidden * (n_in + 1):].reshape(n_labels, n_hidden + 1)
    m = X.shape[0]
    Y = (y.reshape(-1, 1) == np.arange(1, n_labels + 1)).astype(float)
    a1 = np.hstack((np.ones((m, 1)), X))
    z2 = Theta1 @ a1.T
    a2 = np.hstack((np.ones((m, 1)), sigmoid(z2.T)))
    a3 = sigmoid(Theta2 @ a2.T)
    if fixed:
        reg = lambda_ / (2 * m) * (np.sum(Theta1[:, 1:] ** 2) + np.sum(Theta2[:, 1:] ** 2))
    else:
        reg = lambda_ / (2 * m) * (np.sum(Theta1 * Theta1) + np.sum(Theta2 * Theta2)
              - np.subtract(Theta1[:, 0] @ Theta1[:, 0], Theta2[:, 0] @ Theta2[:, 0]))
    cost = np.sum(-np.log(a3).T * Y - np.log(1 - a3).T * (1 - Y)) / m + reg
    d3 = a3 - Y.T
    d2 = Theta2[:, 1:].T @ d3 * sigmoid(z2) * (1 - sigmoid(z2))
    g1 = d2 @ a1 / m + lambda_ / m * np.hstack((np.zeros((n_hidden, 1)), Theta1[:, 1:]))
    g2 = d3 @ a2 / m + lambda_ / m * np.hstack((np.zeros((n_labels, 1)), Theta2[:, 1:]))
    return cost, np.append(g1.ravel(), g2.ravel())

nn_params = np.sin(np.arange(1, 39)) / 10
X = (np.sin(np.arange(1, 16)) / 10).reshape(5, 3)
y = 1 + np.arange(5) % 3
'''

CALL = "nnCost(nn_params, X, y, 3.0, 3, 5, 3{fixed})"
WRT = "--wrt nn_params"
BLOCKS = f"{WRT} --blocks Theta1=5x4,Theta2=3x6"

# Seed 001's RNN: backprop and the weight update fused, no gradient returned.
# The planted bug takes sigmoid' at B1 although B = sigmoid(B1 + B_t1).
SEED001 = '''
class RNN:
    def __init__(self):
        rng = np.random.default_rng(0)
        self.AB = rng.standard_normal((4, 6))
        self.BC = rng.standard_normal((6, 1))
        self.B_RNN = rng.standard_normal((6, 6))
        self.B_t = rng.random(6)
        self.fixed = False

    def sigmoid(self, x):
        return 1 / (1 + np.exp(-x))

    def sigmoidPrime(self, x):
        return np.exp(-x) / (1 + np.exp(-x)) ** 2

    def forward(self, A):
        self.A = A
        self.B1 = A @ self.AB
        self.B_t1 = self.B_t @ self.B_RNN
        self.B = self.sigmoid(self.B1 + self.B_t1)
        self.C1 = self.B @ self.BC
        self.C = self.sigmoid(self.C1)

    def get_cost(self, C_real):
        self.cost = 0.5 * (C_real - self.C) ** 2
        return self.cost

    def backprop(self, C_real, lr):
        delta3 = -(C_real - self.C) * self.sigmoidPrime(self.C1)
        pre = self.B1 + self.B_t1 if self.fixed else self.B1
        delta2 = (delta3 @ self.BC.T) * self.sigmoidPrime(pre)
        self.BC = self.BC - np.outer(self.B, delta3) * lr
        self.AB = self.AB - np.outer(self.A, delta2) * lr
        self.B_RNN = self.B_RNN - np.outer(self.B_t, delta2) * lr
        self.B_t = self.B

NN = RNN()
A, C_real = np.array([0.3, -0.2, 0.5, 1.0]), 0.8
'''

FUSED_CELL = """%%gradcheck --wrt NN.AB,NN.BC,NN.B_RNN --update-lr {lr}
NN.forward(A)
NN.backprop(C_real, {lr})
NN.get_cost(C_real)
"""


def namespace_state(shell: Any, names: list[str]) -> bytes:
    """Bit-exact fingerprint of named values (arrays and plain objects' attributes)."""
    return pickle.dumps({name: shell.user_ns[name] for name in names if name in shell.user_ns})


def attribute_identities(obj: Any) -> dict[str, int]:
    return {name: id(value) for name, value in vars(obj).items()}


def usage_error(shell: Any, capsys: pytest.CaptureFixture[str], source: str) -> str:
    """Run a cell that must fail with a usage error; return what the user saw."""
    result = shell.run_cell(source)
    assert isinstance(result.error_in_exec, IPythonUsageError), result.error_in_exec
    err = capsys.readouterr().err
    assert "UsageError" in err
    assert "site-packages" not in err and "nbgrad/gradcheck/" not in err
    return err


def block(report: Any, name: str) -> dict[str, Any]:
    return next(b for b in report.to_dict()["blocks"] if b["name"] == name)


def test_line_magic_finds_seed003_bias_column_and_passes_the_fix(shell, run_cell):
    run_cell(SEED003)
    before = namespace_state(shell, ["nn_params", "X", "y"])
    buggy = run_cell(f"%gradcheck {CALL.format(fixed='')} {BLOCKS}")
    assert not buggy.passed
    theta2 = block(buggy, "Theta2")
    assert theta2["shape"] == [3, 6] and not theta2["passed"]
    assert theta2["flagged"] == [0, 6, 12]  # column 0 of the 3x6 block, flat C order
    assert block(buggy, "Theta1")["passed"]
    fixed = run_cell(f"%gradcheck {CALL.format(fixed=', fixed=True')} {BLOCKS}")
    assert fixed.passed and fixed.max_rel_error < 1e-8  # the accuracy goal: tol/100
    assert namespace_state(shell, ["nn_params", "X", "y"]) == before


def test_report_matches_the_python_api(shell, run_cell):
    run_cell(SEED003)
    magic = run_cell(f"%gradcheck {CALL.format(fixed='')} {BLOCKS}").to_dict()
    ns = shell.user_ns
    api = gradcheck(
        lambda p: ns["nnCost"](p, ns["X"], ns["y"], 3.0, 3, 5, 3),
        ns["nn_params"], blocks={"Theta1": (5, 4), "Theta2": (3, 6)},
    ).to_dict()
    for key in ("passed", "diagnoses", "evaluations"):
        assert magic[key] == api[key]
    assert [b["flagged"] for b in magic["blocks"]] == [b["flagged"] for b in api["blocks"]]


def test_options_may_come_first_after_a_bare_double_dash(run_cell):
    run_cell(SEED003)
    report = run_cell(f"%gradcheck {BLOCKS} -- {CALL.format(fixed=', fixed=True')}")
    assert report.passed
    assert report.to_dict()["label"] == CALL.format(fixed=", fixed=True")


def test_without_blocks_the_block_is_named_after_the_wrt_name(run_cell):
    run_cell(SEED003)
    report = run_cell(f"%gradcheck {CALL.format(fixed='')} --wrt nn_params").to_dict()
    assert [b["name"] for b in report["blocks"]] == ["nn_params"]
    assert report["blocks"][0]["flagged"] == [20, 26, 32]  # Theta2's bias column, unrolled


def test_fast_mode_and_seed_reach_the_engine(run_cell):
    run_cell(SEED003)
    report = run_cell(f"%gradcheck {CALL.format(fixed='')} {BLOCKS} --mode fast --seed 7")
    data = report.to_dict()
    assert data["mode"] == "fast" and not data["passed"]
    assert block(report, "Theta2")["flagged"] == [0, 6, 12]
    again = run_cell(f"%gradcheck {CALL.format(fixed='')} {BLOCKS} --mode fast --seed 7")
    assert strip_run(again.to_dict()) == strip_run(data)  # the seed makes fast mode repeatable


def strip_run(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what differs between two runs of the same check."""
    return {k: v for k, v in report.items() if k not in ("id", "created", "elapsed_s")}


def test_option_values_are_checked(shell, capsys, run_cell):
    run_cell(SEED003)
    err = usage_error(shell, capsys, f"%gradcheck {CALL.format(fixed='')} {WRT} --seed x")
    assert "--seed" in err and "'x'" in err
    err = usage_error(shell, capsys, f"%gradcheck {CALL.format(fixed='')} {WRT} --mode quick")
    assert "--mode" in err and "quick" in err


def test_rtol_option_sets_the_threshold(run_cell):
    run_cell(SEED003)
    buggy = CALL.format(fixed="")
    assert not run_cell(f"%gradcheck {buggy} {BLOCKS}").passed  # worst element: 51 % off
    lax = run_cell(f"%gradcheck {buggy} {BLOCKS} --rtol 0.6").to_dict()
    assert lax["tolerance"] == 0.6
    assert lax["passed"]  # a 60 % threshold lets the bias-column bug through


def test_cell_magic_uses_the_last_expression_and_restores_the_namespace(shell, run_cell):
    run_cell(SEED003)
    run_cell(
        "import types\n"
        "counter, existing, table = [0], np.arange(3.0), {'k': np.ones(2)}\n"
        "holder = types.SimpleNamespace(value=np.zeros(2))\n"
    )
    names = ["nn_params", "counter", "existing", "table", "holder"]
    before, kept = namespace_state(shell, names), shell.user_ns["holder"].value
    report = run_cell(
        "%%gradcheck --wrt nn_params --blocks Theta1=5x4,Theta2=3x6\n"
        "counter.append(1)\n"
        "existing += 1\n"
        "table['k'][0] = 5.0\n"
        "holder.value = holder.value + 1\n"
        "scratch = 42\n"
        f"{CALL.format(fixed=', fixed=True')}\n"
    )
    assert report.passed
    # Labelled by the expression giving the cost, not by the set-up line "counter.append(1)".
    assert report.to_dict()["label"] == CALL.format(fixed=", fixed=True")
    assert "scratch" not in shell.user_ns
    assert namespace_state(shell, names) == before
    assert shell.user_ns["holder"].value is kept


def test_cell_magic_reads_cost_and_grad_variables(shell, run_cell):
    run_cell(SEED003)
    report = run_cell(
        "%%gradcheck --wrt nn_params --cost J --grad dJ\n"
        f"J, dJ = {CALL.format(fixed='')}\n"
        "print('a cell may print')\n"
    )
    assert not report.passed
    assert report.to_dict()["label"] == CALL.format(fixed="")  # what --cost J was set to
    assert report.to_dict()["blocks"][0]["flagged"] == [20, 26, 32]
    assert "J" not in shell.user_ns and "dJ" not in shell.user_ns


def test_dotted_names_and_a_tuple_gradient_in_wrt_order(run_cell):
    run_cell(
        "class Net: pass\n"
        "net = Net()\n"
        "net.W = np.linspace(-1, 1, 6).reshape(2, 3)\n"
        "net.b = np.array([0.5, -0.25])\n"
        "x = np.array([1.0, 2.0, 3.0])\n"
        "def cost():\n"
        "    z = net.W @ x + net.b\n"
        "    return 0.5 * z @ z, (np.outer(z, x), -z)\n"  # sign of the bias gradient flipped
    )
    report = run_cell("%gradcheck cost() --wrt net.W,net.b").to_dict()
    assert [b["name"] for b in report["blocks"]] == ["net.W", "net.b"]
    assert report["blocks"][0]["passed"]
    assert "sign_flip" in report["blocks"][1]["diagnoses"]


def test_subscripted_names(run_cell):
    run_cell(
        "p = {'W': np.linspace(0.1, 0.9, 4)}\n"
        "def cost():\n"
        "    return np.sum(np.sin(p['W'])), np.cos(p['W'])\n"
    )
    report = run_cell("%gradcheck cost() --wrt p['W']")
    assert report.passed and report.to_dict()["blocks"][0]["name"] == "p['W']"


def test_fused_update_finds_the_wrong_preactivation_and_restores_the_object(shell, run_cell):
    run_cell(SEED001)
    net = shell.user_ns["NN"]
    identities = attribute_identities(net)
    before = pickle.dumps(vars(net))
    buggy = run_cell(FUSED_CELL.format(lr=10))
    assert not buggy.passed
    assert block(buggy, "NN.BC")["passed"]
    assert not block(buggy, "NN.AB")["passed"] and not block(buggy, "NN.B_RNN")["passed"]
    assert attribute_identities(net) == identities and pickle.dumps(vars(net)) == before
    run_cell("NN.fixed = True")
    fixed = run_cell(FUSED_CELL.format(lr=10))
    assert fixed.passed and fixed.max_rel_error < 1e-8
    assert shell.user_ns["NN"] is net


@pytest.mark.parametrize("factor", [1.0, 2.0])
def test_fused_update_with_a_tiny_learning_rate_widens_the_tolerance_honestly(run_cell, factor):
    run_cell("w = np.linspace(1.0, 2.0, 5)")
    # (w - (w - lr·g)) / lr with lr = 1e-9 keeps about eps / lr = 2e-7 of g:
    # float64's default tolerance (5.6e-7) would be too strict for 10x that.
    report = run_cell(
        "%%gradcheck --wrt w --update-lr 1e-9\n"
        "cost = 0.5 * w @ w\n"
        f"w = w - 1e-9 * {factor} * w\n"
        "cost\n"
    ).to_dict()
    note = next(f for f in report["findings"] if f["code"] == "update_precision")
    assert note["details"]["widened"] and 1e-6 < report["tolerance"] < 1e-4
    assert "widened" in note["message"]
    assert report["passed"] == (factor == 1.0)  # a real factor-2 bug still fails


def test_fused_update_too_small_to_measure_is_refused(shell, capsys, run_cell):
    run_cell("w = np.linspace(1.0, 2.0, 5)")
    err = usage_error(
        shell, capsys, "%%gradcheck --wrt w --update-lr 1e-16\nc = w @ w\nw = w - 1e-16 * w\nc\n"
    )
    assert "--update-lr 1e-16" in err and "larger learning rate" in err


def test_missing_attribute_lists_what_the_object_has(shell, capsys, run_cell):
    run_cell(SEED001)
    err = usage_error(shell, capsys, FUSED_CELL.format(lr=10).replace("NN.AB,", "NN.AC,"))
    expected = "name 'NN.AC' is not defined in the notebook (NN has no attribute AC; it has: AB, BC"
    assert expected in err


def test_missing_name_suggests_a_close_one(shell, capsys, run_cell):
    run_cell(SEED003)
    err = usage_error(shell, capsys, f"%gradcheck {CALL.format(fixed='')} --wrt nn_parms")
    assert "name 'nn_parms' is not defined in the notebook (did you mean nn_params?)" in err


def test_non_array_and_integer_parameters_are_named(shell, capsys, run_cell):
    run_cell("weights = [1.0, 2.0]\ncounts = np.arange(3)")
    err = usage_error(shell, capsys, "%gradcheck sum(weights) --wrt weights")
    assert "weights is a list, not an array" in err
    err = usage_error(shell, capsys, "%gradcheck counts.sum() --wrt counts")
    assert "int64" in err


def test_blocks_that_do_not_add_up_say_so(shell, capsys, run_cell):
    run_cell(SEED003)
    err = usage_error(
        shell, capsys, f"%gradcheck {CALL.format(fixed='')} {WRT} --blocks Theta1=5x4"
    )
    assert "20" in err and "38" in err
    err = usage_error(shell, capsys, f"%gradcheck {CALL.format(fixed='')} {WRT} --blocks T")
    assert "--blocks: cannot read 'T'" in err


def test_gradient_of_the_wrong_shape_names_the_parameter(shell, capsys, run_cell):
    run_cell("w = np.ones(4)\ndef cost():\n    return w @ w, np.ones(3)\n")
    err = usage_error(shell, capsys, "%gradcheck cost() --wrt w")
    assert "(3,)" in err and "(4,)" in err


def test_missing_wrt_and_missing_expression(shell, capsys, run_cell):
    run_cell(SEED003)
    assert "--wrt" in usage_error(shell, capsys, f"%gradcheck {CALL.format(fixed='')}")
    assert "expression" in usage_error(shell, capsys, "%gradcheck --wrt nn_params --")


def test_cell_without_a_value_asks_for_one(shell, capsys, run_cell):
    run_cell(SEED003)
    err = usage_error(shell, capsys, f"%%gradcheck --wrt nn_params\nJ = {CALL.format(fixed='')}\n")
    assert "--cost NAME" in err


# A counter the snapshot cannot rewind (an itertools object is not notebook
# state), so a cell can fail at its k-th run although every run starts afresh.
COUNTER = "import itertools\nruns = itertools.count(1)\ntouched = [0]\n"


def test_a_cell_that_raises_shows_the_users_line_and_restores_everything(shell, capsys, run_cell):
    run_cell(SEED003 + COUNTER)
    before = namespace_state(shell, ["nn_params", "touched"])
    err = usage_error(
        shell, capsys,
        "%%gradcheck --wrt nn_params\n"
        "touched[0] += 1\n"
        "if next(runs) == 6:\n"
        "    raise ZeroDivisionError('planted at run 6')\n"
        f"{CALL.format(fixed='')}\n",
    )
    assert "ZeroDivisionError" in err and "planted at run 6" in err
    assert "raise ZeroDivisionError" in err  # the user's own source line
    assert namespace_state(shell, ["nn_params", "touched"]) == before


@pytest.mark.parametrize("k", [1, 4, 30])
def test_keyboard_interrupt_at_the_kth_call_leaves_the_namespace_bit_for_bit(shell, run_cell, k):
    run_cell(SEED001 + COUNTER)
    net = shell.user_ns["NN"]
    identities, before = attribute_identities(net), pickle.dumps(vars(net))
    result = shell.run_cell(
        "%%gradcheck --wrt NN.AB,NN.BC,NN.B_RNN --update-lr 10\n"
        "touched[0] += 1\n"
        f"if next(runs) == {k}:\n"
        "    raise KeyboardInterrupt\n"
        "NN.forward(A)\n"
        "NN.backprop(C_real, 10)\n"
        "NN.get_cost(C_real)\n"
    )
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert shell.user_ns["touched"] == [0]
    assert attribute_identities(net) == identities and pickle.dumps(vars(net)) == before


def test_report_is_the_cells_output_value(shell, run_cell):
    run_cell(SEED003)
    run_cell(f"report = %gradcheck {CALL.format(fixed=', fixed=True')} {BLOCKS}")
    report = shell.user_ns["report"]
    bundle = report._repr_mimebundle_()
    assert bundle["application/vnd.nbgrad.report+json"]["kind"] == "gradcheck"
    assert np.isfinite(report.max_rel_error)


@pytest.mark.gpu
def test_cupy_parameters_stay_on_the_device_and_are_restored(shell, run_cell):
    run_cell(
        "import cupy as cp\n"
        "W = cp.linspace(0.1, 1.2, 12).reshape(3, 4)\n"
        "x = cp.arange(4.0)\n"
        "def cost():\n"
        "    z = W @ x\n"
        "    return 0.5 * z @ z, cp.outer(z, x)\n"
    )
    W = shell.user_ns["W"]
    before = W.get().tobytes()
    report = run_cell("%gradcheck cost() --wrt W").to_dict()
    assert report["passed"] and report["blocks"][0]["device"].startswith("cuda:")
    fused = run_cell(
        "%%gradcheck --wrt W --update-lr 0.5\n"
        "z = W @ x\n"
        "c = 0.5 * z @ z\n"
        "W = W - 0.5 * cp.outer(z, x)\n"
        "c\n"
    ).to_dict()
    assert fused["passed"]
    assert shell.user_ns["W"] is W and W.get().tobytes() == before


def test_a_slow_check_shows_progress_and_wipes_it(run_cell, capsys):
    run_cell(
        "import time\n"
        "w = np.linspace(0.1, 1.0, 20)\n"
        "def slow_cost():\n"
        "    time.sleep(0.03)\n"
        "    return float(np.sum(np.sin(w))), np.cos(w)\n"
    )
    capsys.readouterr()
    assert run_cell("%gradcheck slow_cost() --wrt w").passed
    err = capsys.readouterr().err
    assert "gradcheck slow_cost(): " in err and "elapsed" in err
    assert err.endswith("\r") and err.rsplit("\r", 2)[-2].strip() == ""  # the line is wiped
