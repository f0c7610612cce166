"""Costs as their authors write them, and the bad inputs that slipped through (issue 9 item 5,
issue 11 item 4)."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

from nbgrad.errors import GradientError, ParameterError, UsageError
from nbgrad.gradcheck import gradcheck

MIN_CHAR_RNN = '''
import numpy as np
rng = np.random.default_rng(0)
hidden_size, vocab_size = 5, 4
Wxh = rng.normal(size=(hidden_size, vocab_size)) * 0.1
Whh = rng.normal(size=(hidden_size, hidden_size)) * 0.1
Why = rng.normal(size=(vocab_size, hidden_size)) * 0.1
bh = np.zeros((hidden_size, 1))
by = np.zeros((vocab_size, 1))
inputs, targets = [0, 1, 2, 3, 1], [1, 2, 3, 1, 0]
hprev = np.zeros((hidden_size, 1))

def lossFun(inputs, targets, hprev):
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t-1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    dWxh, dWhh, dWhy = np.zeros_like(Wxh), np.zeros_like(Whh), np.zeros_like(Why)
    dbh, dby = np.zeros_like(bh), np.zeros_like(by)
    dhnext = np.zeros_like(hs[0])
    for t in reversed(range(len(inputs))):
        dy = np.copy(ps[t])
        dy[targets[t]] -= 1
        dWhy += np.dot(dy, hs[t].T)
        dby += dy
        dh = np.dot(Why.T, dy) + dhnext
        dhraw = (1 - hs[t] * hs[t]) * dh
        dbh += dhraw
        dWxh += np.dot(dhraw, xs[t].T)
        dWhh += np.dot(dhraw, hs[t-1].T)
        dhnext = np.dot(Whh.T, dhraw)
    return loss, dWxh, dWhh, dWhy, dbh, dby, hs[len(inputs)-1]
'''


def test_min_char_rnn_lossfun_seven_tuple(shell):
    """(loss, five gradients, the hidden state): gradients in --wrt order, the state ignored."""
    shell.run_cell(MIN_CHAR_RNN)
    result = shell.run_cell(
        "report = %gradcheck lossFun(inputs, targets, hprev) --wrt Wxh,Whh,Why,bh,by"
    )
    assert result.success, result.error_in_exec
    report = shell.user_ns["report"]
    assert report.passed, report.headline
    assert [b["name"] for b in report.blocks] == ["Wxh", "Whh", "Why", "bh", "by"]


def test_min_char_rnn_with_a_dropped_term_fails_where_it_is(shell):
    shell.run_cell(MIN_CHAR_RNN.replace("+ dhnext", ""))  # the recurrent term dropped
    shell.run_cell("report = %gradcheck lossFun(inputs, targets, hprev) --wrt Wxh,Whh,Why,bh,by")
    report = shell.user_ns["report"]
    passed = {b["name"]: b["passed"] for b in report.blocks}
    assert passed == {"Wxh": False, "Whh": False, "Why": True, "bh": False, "by": True}


BATCHNORM_MODEL = '''
import numpy as np
rng = np.random.default_rng(1)
x = rng.normal(size=(6, 3))
model = {"params": {"gamma": np.ones(3) * 1.5, "beta": np.zeros(3) + 0.1,
                    "running_mean": np.zeros(3)}}

def loss(model):
    p = model["params"]
    mu, var = x.mean(axis=0), x.var(axis=0)
    p["running_mean"] = 0.9 * p["running_mean"] + 0.1 * mu  # train-mode forward
    xhat = (x - mu) / np.sqrt(var + 1e-5)
    out = p["gamma"] * xhat + p["beta"]
    return float(np.sum(out ** 3)), {"gamma": np.sum(3 * out**2 * xhat, axis=0),
                                     "beta": np.sum(3 * out**2, axis=0)}
'''


def test_wrt_a_params_dict_checks_every_array_and_leaves_out_running_statistics(shell):
    shell.run_cell(BATCHNORM_MODEL)
    before = shell.user_ns["model"]["params"]["running_mean"].copy()
    result = shell.run_cell("report = %gradcheck loss(model) --wrt model['params']")
    assert result.success, result.error_in_exec
    report = shell.user_ns["report"]
    assert report.passed, report.headline
    assert [b["name"] for b in report.blocks] == ["model['params']['gamma']",
                                                   "model['params']['beta']"]
    (note,) = [f for f in report.findings if f["code"] == "state_left_out"]
    assert "model['params']['running_mean']" in note["message"]
    assert "the forward pass replaced it" in note["message"]
    assert np.array_equal(shell.user_ns["model"]["params"]["running_mean"], before)


def test_a_wrt_subset_of_a_dict_whose_gradient_has_more_keys(shell):
    shell.run_cell(
        "p = {'W': np.ones((2, 2)), 'b': np.ones(2)}\n"
        "def f(p): return float(np.sum(p['W']**2) + np.sum(p['b']**3)), "
        "{'W': 2*p['W'], 'b': 3*p['b']**2}"
    )
    result = shell.run_cell("report = %gradcheck f(p) --wrt p['W']")
    assert result.success, result.error_in_exec
    assert shell.user_ns["report"].passed


def test_a_property_returning_a_new_array_is_named(shell):
    shell.run_cell(
        "class NN:\n"
        "    def __init__(self): self._w = np.ones(3)\n"
        "    @property\n"
        "    def W(self): return self._w.reshape(3).copy()\n"
        "net = NN()\n"
        "def f(): return float(np.sum(net._w**2)), 2*net._w"
    )
    error = shell.run_cell("%gradcheck f() --wrt net.W").error_in_exec
    assert type(error).__name__ in ("ParameterError", "UsageError")
    assert str(error).startswith("net.W returns a new array on each access: nbgrad cannot "
                                 "perturb it in place — pass the array it is built from")


@pytest.mark.parametrize("lr", ["inf", "1e-300", "1e300"])
def test_update_lr_outside_a_sane_range_is_refused(shell, lr):
    shell.run_cell("W = np.ones(3)")
    error = shell.run_cell(f"%gradcheck float(np.sum(W**2)) --wrt W --update-lr {lr}")
    error = error.error_in_exec or error.error_before_exec
    assert type(error).__name__ == "UsageError" and "--update-lr" in str(error)
    # inf is refused by the option parser already; the others by the range
    assert "between 1e-12 and 1e+06" in str(error) or "finite" in str(error)


def test_a_complex_gradient_for_real_parameters_fails_with_its_imaginary_part():
    w = np.array([1.0, 2.0, 3.0])
    with pytest.raises(GradientError, match=r"imaginary part of up to 0\.25 \(at params\[2\]\)"):
        gradcheck(lambda w: (float(w @ w), 2 * w + np.array([0, 0.1j, 0.25j])), w)
    # An imaginary part that is exactly zero is only a dtype: converted.
    assert gradcheck(lambda w: (float(w @ w), (2 * w).astype(complex)), w).passed


def test_nan_gradient_elements_are_flagged_as_nonfinite_analytic():
    w = np.array([1.0, 2.0, 3.0])
    report = gradcheck(lambda w: (float(w @ w), np.array([2.0, np.nan, 6.0])), w)
    block = report.blocks[0]
    assert not report.passed and block["flagged"] == [1] and block["nonfinite"] == [1]
    assert block["diagnoses"] == ["nonfinite_analytic"]
    lead = report.findings[0]
    assert lead["code"] == "nonfinite_analytic" and lead["confidence"] == 1.0
    assert "params[1]" in lead["message"]


def test_an_empty_parameter_array_is_refused_by_name():
    with pytest.raises(ParameterError, match=r"params\['b'\] is empty \(shape \(0,\)\)"):
        gradcheck(lambda p: (0.0, p), {"W": np.ones(2), "b": np.zeros(0)})


def test_an_np_matrix_parameter_is_checked_in_its_own_memory():
    with warnings.catch_warnings():  # numpy discourages np.matrix; students still have it
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    before = m.copy()
    report = gradcheck(lambda m: (float(np.sum(np.asarray(m) ** 3)), 3 * np.power(m, 2)), m)
    assert report.passed and np.array_equal(m, before)
    bad = gradcheck(lambda m: (float(np.sum(np.asarray(m) ** 3)), 2 * np.power(m, 2)), m)
    assert bad.diagnoses == ["scale"]


def test_two_threads_checking_the_same_array_one_is_refused():
    w = np.linspace(0.1, 1.0, 200)
    before = w.copy()
    started, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def slow(w):
        started.set()
        release.wait(5)
        return float(np.sum(w**2)), 2 * w

    def first():
        try:
            gradcheck(slow, w, mode="fast")
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    thread = threading.Thread(target=first)
    thread.start()
    started.wait(5)
    with pytest.raises(UsageError, match="another gradcheck"):
        gradcheck(lambda w: (float(np.sum(w**2)), 2 * w), w[10:20])  # a view shares memory
    release.set()
    thread.join(10)
    assert not errors
    assert w.tobytes() == before.tobytes()


def test_the_python_api_takes_loss_then_one_gradient_per_array_then_other_outputs():
    rng = np.random.default_rng(3)
    W, b, x = rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=2)

    def forward_backward(params):
        W, b = params
        h = np.tanh(W @ x + b)
        dh = 2 * h * (1 - h**2)
        return float(h @ h), np.outer(dh, x), dh, h  # h: the state, not a gradient

    assert gradcheck(forward_backward, [W, b], names=["W", "b"]).passed
