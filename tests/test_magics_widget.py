"""``--widget``: the live view is displayed beside the static report, never instead of it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from nbgrad.report.base import MIME_TYPE

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

QUADRATIC = "w = np.array([1.0, -2.0, 3.0])\nA = np.diag([1.0, 2.0, 3.0])"


def _displayed(shell: InteractiveShell, source: str) -> tuple[list[dict[str, Any]], Any]:
    with capture_output(display=True) as captured:
        result = shell.run_cell(source)
    assert result.success, result.error_in_exec or result.error_before_exec
    return [output.data for output in captured.outputs], result.result


def test_gradcheck_widget_is_displayed_beside_the_report(
    shell: InteractiveShell, run_cell: Callable[[str], Any]
) -> None:
    run_cell(QUADRATIC)
    outputs, report = _displayed(shell, "%gradcheck (w @ A @ w / 2, A @ w) --wrt w --widget")
    assert report.passed
    assert len(outputs) == 1 and WIDGET_VIEW in outputs[0]
    assert MIME_TYPE in report._repr_mimebundle_() and "text/html" in report._repr_mimebundle_()


def test_without_the_option_no_widget_is_displayed(
    shell: InteractiveShell, run_cell: Callable[[str], Any]
) -> None:
    run_cell(QUADRATIC)
    outputs, report = _displayed(shell, "%gradcheck (w @ A @ w / 2, A @ w) --wrt w")
    assert report.passed and outputs == []


def test_determinism_widget_is_displayed(shell: InteractiveShell) -> None:
    cell = "%%determinism --widget\ntotal = 0.0\nfor i in range(3):\n    total += i * 0.5\n"
    outputs, report = _displayed(shell, cell)
    assert report.deterministic
    assert len(outputs) == 1 and WIDGET_VIEW in outputs[0]
