"""Ctrl-C during a check: what the user sees is one line, without a single frame.

Through a real :class:`~IPython.core.interactiveshell.InteractiveShell`, whose
``showtraceback`` prints exactly what a notebook's error output shows (the
kernel sends the same structured traceback).
"""

from __future__ import annotations

import numpy as np
import pytest

INTERRUPTING = (
    "import itertools\nticks = itertools.count()\nW = np.linspace(-1.0, 1.0, 6)\n"
    "def cost(W):\n"
    "    if next(ticks) == {k}:\n"
    "        raise KeyboardInterrupt\n"
    "    return float((W ** 2).sum()), 2 * W\n"
)


def shown_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    return [line for line in (captured.out + captured.err).splitlines() if line.strip()]


@pytest.mark.parametrize("k", [0, 5])
@pytest.mark.parametrize("form", ["%gradcheck cost(W) --wrt W", "%%gradcheck --wrt W\ncost(W)",
                                  "%gradcheck cost(W) --wrt W --mode fast"])
def test_ctrl_c_in_a_gradient_check_is_one_line(shell, run_cell, capsys, form, k):
    run_cell(INTERRUPTING.format(k=k))
    before = shell.user_ns["W"].copy()
    capsys.readouterr()
    result = shell.run_cell(form)
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    assert shown_lines(capsys) == [
        "KeyboardInterrupt: interrupted; the parameters and the namespace are as before"]
    assert np.array_equal(shell.user_ns["W"], before)


def test_ctrl_c_in_a_determinism_check_is_one_line_with_the_engines_words(shell, run_cell,
                                                                           capsys):
    run_cell("import itertools\nticks = itertools.count()\nW = np.ones(4)")
    capsys.readouterr()
    result = shell.run_cell("%%determinism\nfor step in range(4):\n    W = W * 2\n"
                            "    if next(ticks) == 6:\n        raise KeyboardInterrupt\n")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    lines = shown_lines(capsys)
    assert len(lines) == 1 and lines[0].startswith("KeyboardInterrupt: "), lines
    assert "restored" in lines[0] and "File" not in lines[0]
