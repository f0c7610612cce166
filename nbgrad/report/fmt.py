"""Formatting shared by every renderer, so text, HTML and widget print numbers alike.

The contract writes non-finite numbers as ``null``; renderers show those as
an em dash rather than crash or print ``None``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from nbgrad.errors import ReportFormatError

MISSING = "—"
Rendered = TypeVar("Rendered")
KINDS = ("gradcheck", "determinism")


def report_kind(report: Any) -> str:
    """Return ``report["kind"]``, or raise naming what was received instead."""
    if not isinstance(report, dict):
        raise ReportFormatError(
            f"expected a report dictionary (Report.to_dict()), got {type(report).__name__}"
        )
    kind = report.get("kind")
    if kind not in KINDS:
        raise ReportFormatError(f"report['kind'] is {kind!r}; expected one of {KINDS}")
    return kind


def renderer(render: Callable[[dict[str, Any]], Rendered]) -> Callable[[dict[str, Any]], Rendered]:
    """Turn a malformed report's KeyError/TypeError into a ReportFormatError naming the field.

    A report from an older or foreign producer should say what is wrong with
    it, not fail with a traceback from inside a renderer.
    """

    @functools.wraps(render)
    def checked(report: dict[str, Any]) -> Rendered:
        kind = report_kind(report)
        try:
            return render(report)
        except KeyError as error:
            raise ReportFormatError(
                f"{kind} report has no field {error.args[0]!r} (see docs/report-schema.md)"
            ) from error
        except (TypeError, AttributeError) as error:
            raise ReportFormatError(
                f"{kind} report has a field of the wrong type ({error}); "
                "validate it with nbgrad.report.schema.validate_report"
            ) from error

    return checked


def num(value: float | None, digits: int = 2) -> str:
    """Scientific notation for errors and differences; an em dash for null."""
    if value is None:
        return MISSING
    if value == 0:
        return "0"
    return f"{value:.{digits}e}"


def step_difference(step: dict[str, Any]) -> str:
    """A step's max abs difference; null with diverged variables means NaN/Inf, not "none"."""
    if step["max_abs_diff"] is None and step["diverged"]:
        return "non-finite"
    return num(step["max_abs_diff"])


def plain(value: float | None) -> str:
    """Gradient values: enough significant digits to compare analytic with numeric."""
    return MISSING if value is None else f"{value:.6g}"


def gradient_value(element: dict[str, Any], side: str) -> str:
    """``element[side]`` ("analytic" or "numeric"), with its imaginary part for complex blocks.

    Complex elements carry the real part in ``side`` and the imaginary part in
    ``side + "_imag"`` (docs/report-schema.md); showing only the real part
    would hide exactly the half that is wrong in a conjugated gradient.
    """
    real, imag = element[side], element.get(f"{side}_imag")
    if imag is None:
        return plain(real)
    sign = "-" if imag < 0 else "+"
    return f"{plain(real)}{sign}{plain(abs(imag))}j"


def percent(fraction: float) -> str:
    return f"{round(100 * fraction)}%"


def shape(dims: Sequence[int]) -> str:
    return "×".join(str(d) for d in dims) if dims else "scalar"


def element(block: str, multi_index: Sequence[int]) -> str:
    """``Theta2[0, 3]``: how the user would index the element in their own code."""
    if not multi_index:
        return block
    return f"{block}[{', '.join(str(i) for i in multi_index)}]"


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 60 else f"{value / 60:.1f} min"


def status_word(report: dict[str, Any]) -> str:
    """The verdict in one upper-case word, as the badge shows it."""
    return str(report.get("status", "")).upper()


StepRow = tuple[str, dict[str, Any]]


def compact_steps(per_step: list[dict[str, Any]], max_rows: int) -> list[StepRow]:
    """Merge runs of identical steps into ``a–b`` rows and cut after ``max_rows`` rows."""
    rows: list[StepRow] = []
    start = 0
    while start < len(per_step):
        end = start
        if not per_step[start]["diverged"]:
            while end + 1 < len(per_step) and not per_step[end + 1]["diverged"]:
                end += 1
        first, last = per_step[start]["step"], per_step[end]["step"]
        rows.append((str(first) if first == last else f"{first}–{last}", per_step[start]))
        start = end + 1
    if len(rows) > max_rows:
        hidden = len(rows) - max_rows
        more = {"diverged": [f"{hidden} more rows in the JSON"], "max_abs_diff": None}
        rows = [*rows[:max_rows], ("…", more)]
    return rows
