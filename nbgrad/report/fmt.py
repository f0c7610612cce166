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

# --- colours of the static HTML --------------------------------------------------------
# Every colour text sits on goes through a JupyterLab theme variable, with the light
# theme's value as the fallback: the same markup reads in JupyterLab's light, dark and
# high-contrast themes, and in front ends with no JupyterLab CSS at all (GitHub,
# nbviewer, nbconvert's classic template), where the fallbacks apply.  The report's root
# sets its own background from the same variables, so the fallback text never lands on
# a dark page.  Badges (verdicts) carry a fixed colour *pair* (white on a dark hue,
# at least 5:1) and so need no theme.  Plots are images, which cannot see CSS
# variables: they draw their own white background (:mod:`nbgrad.report.svg`).
TEXT = "var(--jp-content-font-color1, #1a1a1a)"
TEXT_SECONDARY = "var(--jp-content-font-color2, #555555)"
BACKGROUND = "var(--jp-layout-color0, #ffffff)"
CODE_BACKGROUND = "var(--jp-cell-editor-background, #f5f5f5)"
BORDER = "var(--jp-border-color1, #bdbdbd)"
RULE = "var(--jp-border-color2, #e0e0e0)"
LINK = "var(--jp-content-link-color, #0d47a1)"
HIGHLIGHT = "var(--jp-rendermime-error-background, #ffdddd)"
FONT = "var(--jp-content-font-family, sans-serif)"
CODE_FONT = "var(--jp-code-font-family, monospace)"
#: Where each diagnosis code, finding and cause is explained, with what its confidence
#: is computed from (one anchor per code, see :func:`doc_link`).  Repository-relative:
#: the one place to point at a published copy once the project has an address.
DIAGNOSES_DOC = "docs/diagnoses.md"


def doc_link(code: str) -> str:
    """The address of ``code``'s section in docs/diagnoses.md (each has ``<a id="code">``)."""
    return f"{DIAGNOSES_DOC}#{code}"


def fix_words(fix: dict[str, Any] | None, headline: str) -> str:
    """The fix's summary, said once: ``""`` without a fix or when the headline carries it."""
    if fix is None or fix["kind"] == "none" or fix["summary"] in headline:
        return ""
    return str(fix["summary"])


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
    if step.get("more"):
        return ""
    if step["max_abs_diff"] is None and step["diverged"]:
        return "non-finite"
    return num(step["max_abs_diff"])


def divergence_place(div: dict[str, Any]) -> str:
    """``step 0, variable dLdb_c, function bptt, line 63 (model.py), 50% of its elements``."""
    where = f"step {div['step']}, variable {div['variable']}"
    if div["function"]:
        where += f", function {div['function']}"
    if div["line"] is not None:
        where += f", line {div['line']}"
    if div.get("file"):
        where += f" of {div['file']}"
    if div.get("fraction_differing") is not None:
        where += f", {share(div['fraction_differing'])} of its elements differ"
    return where


def first_fraction(variable: dict[str, Any]) -> str:
    """Share of a variable's elements differing at its first divergent step (``variables``)."""
    if variable["first_step"] is None:
        return "identical at every step"
    fractions = variable["fraction_per_step"]
    step = variable["first_step"]
    value = fractions[step] if step < len(fractions) else None
    return MISSING if value is None else share(value)


def share(fraction: float) -> str:
    """``"50%"``, and ``"<1%"``/``">99%"`` rather than a rounded 0 % or 100 % that is not."""
    if 0 < fraction < 0.01:
        return "<1%"
    if 0.99 < fraction < 1:
        return ">99%"
    return percent(fraction)


def fractions(row: dict[str, Any]) -> str:
    """``"W 50%, loss 100%"``: the diverged variables' share of differing elements in a row."""
    if row.get("more"):
        return ""
    shares = [(name, row["fraction"].get(name)) for name in row["diverged"]]
    return ", ".join(f"{name} {MISSING if f is None else share(f)}" for name, f in shares)


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


def unravel(index: int, dims: Sequence[int]) -> list[int]:
    """C-order multi-index of flat ``index`` in a block of shape ``dims``."""
    position = []
    for size in reversed(dims):
        index, rest = divmod(index, size) if size else (index, 0)
        position.append(rest)
    return position[::-1]


def ratio(element: dict[str, Any]) -> str:
    """analytic ÷ numeric of a (real) element, e.g. ``-1`` for a flipped sign; — when undefined."""
    analytic, numeric = element["analytic"], element["numeric"]
    if analytic is None or not numeric or element.get("analytic_imag") is not None:
        return MISSING
    return f"{analytic / numeric:.3g}"


def element(block: str, multi_index: Sequence[int]) -> str:
    """``Theta2[0, 3]``: how the user would index the element in their own code."""
    if not multi_index:
        return block
    return f"{block}[{', '.join(str(i) for i in multi_index)}]"


def checked_words(block: dict[str, Any], mode: str) -> str:
    """What was checked and what was found, in the block's own numbers.

    Full mode: ``"5 of 20 wrong"``.  Fast mode says how many elements were
    checked one by one out of the block (``"3 of 6400 checked one by one, 1
    wrong"``), never a ratio of two unrelated counts.  A flat block says so:
    there is nothing to count wrong.
    """
    if "flat" in block["diagnoses"]:
        return f"cost flat: nothing to train ({block['checked']} of {block['size']} checked)"
    if mode != "fast":
        return f"{block['n_flagged']} of {block['checked']} wrong"
    fast = block.get("fast") or {}
    if block["checked"] == 0:
        directions = fast.get("directions")
        tested = f" ({directions} random directions)" if directions else ""
        return f"none of {block['size']} checked one by one{tested}"
    sampled = fast.get("sampled") or 0
    drawn = f", {sampled} of them sampled at random" if sampled else ""
    return (f"{block['checked']} of {block['size']} checked one by one{drawn}, "
            f"{block['n_flagged']} wrong")


def diagnosis_words(block: dict[str, Any]) -> str:
    """The block's diagnosis codes, the scale factor said as what it is."""
    words = ", ".join(block["diagnoses"])
    if block.get("scale") is not None:
        words += f", factor {block['scale']:.3g} (analytic ÷ numeric)"
    return words


def unique_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each finding once: the same code and message for several blocks is printed one time."""
    seen: set[tuple[str, str]] = set()
    kept = []
    for item in findings:
        key = (item["code"], item["message"])
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def failing_indices(blocks: list[dict[str, Any]], limit: int | None = None) -> str:
    """The flagged elements as a Python literal, ``{'W1': [(2, 5), (3, 1)]}``, to paste into code.

    ``limit`` keeps the first elements of each block (the JSON lists up to 1000).
    """
    entries = []
    for block in blocks:
        if not block["flagged"]:
            continue
        dims = block["shape"]
        items = [
            str(tuple(unravel(i, dims))) if len(dims) > 1 else str(i)
            for i in block["flagged"][:limit]
        ]
        entries.append(f"{block['name']!r}: [{', '.join(items)}]")
    return "{" + ", ".join(entries) + "}"


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 60 else f"{value / 60:.1f} min"


def status_word(report: dict[str, Any]) -> str:
    """The verdict in one upper-case word, as the badge shows it."""
    return str(report.get("status", "")).upper()


StepRow = tuple[str, dict[str, Any]]


def step_rows(report: dict[str, Any], max_rows: int) -> list[StepRow]:
    """The engine's collapsed per-step rows (``per_step_collapsed``) labelled ``a–b``, cut.

    The engine merges runs of steps where the same variables diverged; a row's
    ``max_abs_diff`` is over its steps.  Past ``max_rows`` one row says how many more.
    """
    rows = [(str(r["first"]) if r["first"] == r["last"] else f"{r['first']}–{r['last']}", r)
            for r in report["per_step_collapsed"]]
    if len(rows) > max_rows:
        hidden = len(rows) - max_rows
        more = {"diverged": [f"{hidden} more rows in the JSON"], "max_abs_diff": None,
                "fraction": {}, "more": True}
        rows = [*rows[:max_rows], ("…", more)]
    return rows
