"""Static HTML rendering: the report as a shared notebook shows it with no kernel.

Constraints, and why:

* No scripts, no event handlers, no network: nbviewer, GitHub and nbconvert
  show ``text/html`` as is, and JupyterLab runs untrusted notebooks' HTML
  through its sanitiser (``@jupyterlab/apputils`` ``Sanitizer``).  That
  allow-list has no ``style``, ``script`` or ``svg`` element, but keeps the
  ``style``, ``class`` and ``title`` attributes (inline CSS limited to a list
  of properties, colours as ``rgb()``/hex), tables, ``pre`` and ``img`` with a
  data ``src``.  So: inline ``style=`` only, under the root class
  ``nbgrad-report``; heatmaps are tables of coloured cells with ``title``
  hover values; plots are SVG documents embedded as ``img`` data URIs.
* Everything that came from the user (labels, parameter names, source lines,
  messages, tracebacks) goes through :func:`html.escape`.

The section functions are public because the live widget assembles the same
pieces around its selectors, so the two media never drift apart.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from nbgrad.report import fmt, heatmap, svg

ROOT_STYLE = (
    f"font-family: {fmt.FONT}; font-size: 13px; color: {fmt.TEXT}; "
    f"background-color: {fmt.BACKGROUND}; line-height: 1.35; border: 1px solid {fmt.BORDER}; "
    "border-radius: 4px; padding: 8px 12px; max-width: 980px"
)
TABLE_STYLE = "border-collapse: collapse; margin: 4px 0 10px 0; font-size: 12px"
#: The header row only (one rule under it): cells stay bare, a 20-row table would repeat any
#: style 120 times, and JupyterLab, nbconvert and GitHub style table cells themselves.
HEADER_STYLE = f"border-bottom: 1px solid {fmt.RULE}"
PRE_STYLE = (
    f"background-color: {fmt.CODE_BACKGROUND}; color: {fmt.TEXT}; padding: 6px; "
    f"font-size: 12px; overflow-x: auto; white-space: pre; font-family: {fmt.CODE_FONT}; "
    "margin: 4px 0"
)
NOTE_STYLE = f"margin: 2px 0; color: {fmt.TEXT_SECONDARY}"
#: Badge backgrounds: white text on each is at least 5:1, whatever the theme around it.
STATUS_COLOURS = {
    "pass": "#1a7f37",
    "deterministic": "#1a7f37",
    "fail": "#b42318",
    "diverged": "#b42318",
    "error": "#8a5a00",
    "flat": "#8a5a00",
}
STATUS_WORDS = {
    "pass": "PASS — the analytic gradient matches",
    "fail": "FAIL — the gradient check found a problem",
    "deterministic": "DETERMINISTIC — every run agreed bit for bit",
    "diverged": "DIVERGED — the runs disagree",
    "error": "ERROR — the check could not finish",
}
#: Bytes of heatmap markup in one static page (a saved failing report stays under 150 KB,
#: the JSON beside it included): failing blocks are drawn first, maps that do not fit
#: are pooled further, then left to the widget and the JSON.
HEATMAP_BYTES = 50_000
#: Rows of the worst-elements table when nothing fails.
PASSING_ROWS = 3
SORT_KEYS: dict[str, Callable[[tuple[str, dict[str, Any]]], Any]] = {
    "rel. error": lambda pair: -(pair[1]["rel_error"] or 0.0),
    "|analytic − numeric|": lambda pair: -abs((pair[1]["analytic"] or 0.0)
                                              - (pair[1]["numeric"] or 0.0)),
    "position": lambda pair: (pair[0], pair[1]["index"]),
}


@fmt.renderer
def render_html(report: dict[str, Any]) -> str:
    """Return the self-contained static HTML of a gradcheck or determinism report."""
    kind = fmt.report_kind(report)
    body = gradcheck_body(report) if kind == "gradcheck" else determinism_body(report)
    return wrap(report, header(report) + body + side_effects(report.get("side_effects")))


def side_effects(effects: list[dict[str, Any]] | None) -> str:
    """What the checked code did outside the namespace (files written, cwd moved)."""
    if not effects:
        return ""
    items = "".join(f"<li>{html.escape(e['message'])}</li>" for e in effects)
    return heading("Outside the namespace") + f'<ul style="margin: 2px 0">{items}</ul>'


def wrap(report: dict[str, Any], inner: str) -> str:
    """The root element; its classes scope the report (``nbgrad-<id>`` is unique per run)."""
    unique = html.escape(f"nbgrad-{report.get('id', 'report')}")
    return f'<div class="nbgrad-report {unique}" style="{ROOT_STYLE}">{inner}</div>'


def header(report: dict[str, Any]) -> str:
    """Coloured verdict bar in words, the headline, what was checked and the cost."""
    status = report.get("status", "error")
    words = STATUS_WORDS.get(status, status)
    return (
        f'<div class="nbgrad-status" style="{_badge_style(status)}; padding: 4px 8px">'
        f"nbgrad {html.escape(report['kind'])}: {html.escape(words)}</div>"
        f'<p class="nbgrad-headline" style="font-size: 14px; font-weight: bold; margin: 6px 0">'
        f"{html.escape(report.get('headline', ''))}</p>"
        f'<p style="{NOTE_STYLE}">checked <code>'
        f"{html.escape(report.get('label', ''))}</code> · {html.escape(_facts(report))}</p>"
    )


def _badge_style(status: str) -> str:
    colour = STATUS_COLOURS.get(status, "#555555")
    return (f"background-color: {colour}; color: #ffffff; font-weight: bold; "
            "border-radius: 3px")


def badge(status: str, word: str) -> str:
    """A verdict word on its own background (readable on any page colour)."""
    return f'<span style="{_badge_style(status)}; padding: 0 4px">{html.escape(word)}</span>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], css_class: str) -> str:
    """A plain table; ``rows`` hold HTML that the caller has already escaped."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (f'<table class="{css_class}" cellpadding="3" style="{TABLE_STYLE}">'
            f'<tr style="{HEADER_STYLE}">{head}</tr>{body}</table>')


def heading(text: str) -> str:
    return (f'<h4 style="margin: 12px 0 2px 0; font-size: 13px; color: {fmt.TEXT}">'
            f"{html.escape(text)}</h4>")


# --- gradient reports -------------------------------------------------------------------


def gradcheck_body(report: dict[str, Any]) -> str:
    """The gradient report's sections.  A passing report leaves out what only explains a
    failure (scatter, step curve: the Taylor test shows it is right), so that it stays
    within a saved notebook's 20 KB; the live widget shows them all."""
    blocks = report["blocks"]
    return (
        findings(report)
        + heading("Blocks")
        + block_table(blocks, report["mode"])
        + heatmap_section(report)
        + worst_elements(blocks, "rel. error")
        + failing_indices(blocks)
        + scatters(blocks)
        + (step_curve(report) if not report["passed"] else "")
        + taylor_test(report)
    )


def heatmap_section(report: dict[str, Any]) -> str:
    """Where the errors are.  A passing report only says that every element passed: its
    maps would be one shade of blue (the live widget still draws them)."""
    blocks = report["blocks"]
    if report["passed"]:
        return (f'<p style="{NOTE_STYLE}">Every checked element is within its block\'s '
                "tolerance (the per-element heatmaps are in the live widget and the JSON).</p>")
    return (heading("Relative error per element")
            + heatmap.legend(report["tolerance"], any("flat" in b["diagnoses"] for b in blocks))
            + heatmaps(blocks))


def heatmaps(blocks: list[dict[str, Any]]) -> str:
    """Failing blocks' heatmaps first, then passing ones, within the page's byte budget.

    A map too large for what is left is pooled further (max pooling: a failing cell stays
    visible) to 24 × 24, then 12 × 12; one that still does not fit is left to the widget
    and the JSON, and the page says so.
    """
    drawn: dict[str, str] = {}
    left = HEATMAP_BYTES
    for block in sorted(blocks, key=lambda b: b["passed"]):
        if block.get("heatmap") is None:
            drawn[block["name"]] = heatmap.render_heatmap(block)
            continue
        for limit in (None, 24, 12):
            candidate = block if limit is None else heatmap.coarsened(block, limit)
            markup = heatmap.render_heatmap(candidate)
            if len(markup) <= left:
                drawn[block["name"]] = markup
                left -= len(markup)
                break
    omitted = [b["name"] for b in blocks if b["name"] not in drawn]
    note = (
        f'<p style="{NOTE_STYLE}">Not drawn here (page size): '
        f"{html.escape(', '.join(omitted))}; see the live widget or the JSON.</p>"
        if omitted else ""
    )
    return "".join(drawn[b["name"]] for b in blocks if b["name"] in drawn) + note


def findings(report: dict[str, Any]) -> str:
    """Each finding once, its confidence linked to what that confidence is computed from."""
    items = fmt.unique_findings(report["findings"])
    if not items:
        return ""
    rows = "".join(
        f"<li><strong>{html.escape(fmt.percent(f['confidence']))}</strong> "
        f"{html.escape(f['message'])} {_basis(f)}</li>"
        for f in items
    )
    return f'{heading("Findings")}<ul class="nbgrad-findings" style="margin: 2px 0">{rows}</ul>'


def _basis(item: dict[str, Any]) -> str:
    """What the confidence rests on: the finding's own evidence when the report has it, a link."""
    evidence = item["details"].get("evidence")
    said = f"{html.escape(str(evidence))}; " if evidence else ""
    return (f'<span style="color: {fmt.TEXT_SECONDARY}; font-size: 11px">({said}'
            f'<a style="color: {fmt.LINK}" rel="nofollow" '
            f'href="{html.escape(fmt.doc_link(item["code"]))}">'
            f"how <code>{html.escape(item['code'])}</code> and its confidence are decided</a>)"
            "</span>")


def block_table(blocks: list[dict[str, Any]], mode: str = "full") -> str:
    rows = [
        [
            f"<code>{html.escape(b['name'])}</code>",
            html.escape(fmt.shape(b["shape"])),
            html.escape(f"{b['dtype']} · {b['device']}"),
            _verdict_cell(b),
            html.escape(fmt.num(b["max_rel_error"])),
            html.escape(fmt.num(b["tolerance"], 0)),
            html.escape(fmt.checked_words(b, mode)),
            html.escape(fmt.diagnosis_words(b)),
        ]
        for b in blocks
    ]
    headers = ["block", "shape", "dtype", "verdict", "max rel. error", "tolerance",
               "checked", "diagnosis"]
    return table(headers, rows, "nbgrad-blocks")


def step_curve(report: dict[str, Any], inline: bool = False) -> str:
    """The V curve of the worst element (round-off on the left, truncation on the right)."""
    curve = report.get("step_curve")
    if curve is None:
        return ""
    block = next((b for b in report["blocks"] if b["name"] == curve["block"]), None)
    tolerance = block["tolerance"] if block else report["tolerance"]
    shape = block["shape"] if block else []
    plot = svg.step_curve_plot(curve, tolerance, shape)
    return (
        heading(f"Error versus step size: {plot.title.partition(':')[0]} (the worst element)")
        + _plot(plot, inline, "nbgrad-step-curve")
        + f'<p style="{NOTE_STYLE}; font-size: 11px">chosen step '
        f"{html.escape(fmt.num(curve['chosen_step'], 1))}: too small a step is dominated by "
        "round-off (left arm of the V), too large a step by truncation error (right arm); "
        "a wrong gradient keeps the curve flat at the size of the bug.</p>"
    )


def scatters(blocks: list[dict[str, Any]], inline: bool = False, passing: bool = False) -> str:
    """Analytic against numeric for each failing block's listed elements: on y = x when right.

    Passing blocks get none: every point would sit on y = x, which the Taylor test and the
    step curve already show, and the page stays within a saved notebook's size budget.
    """
    plots = [svg.scatter_plot(b) for b in blocks if b["worst"] and (passing or not b["passed"])]
    if not plots:
        return ""
    return (heading("Analytic versus numeric (each block's worst elements)")
            + "".join(_plot(plot, inline, "nbgrad-scatter") for plot in plots)
            + f'<p style="{NOTE_STYLE}; font-size: 11px">Points on the dashed line y = x agree; '
            "on y = −x the sign is flipped; on another line through 0 a factor is missing. "
            "Failing elements are red crosses. Axes are symmetric-log (linear near 0).</p>")


def taylor_test(report: dict[str, Any], inline: bool = False,
                blocks: Sequence[str] | None = None) -> str:
    """The convergence-order (Taylor) test per block (or of ``blocks``), when the report has one."""
    plot = svg.taylor_plot(report, blocks)
    if plot is None:
        return ""
    messages = "".join(f'<p style="margin: 2px 0">{html.escape(b["taylor"]["message"])}</p>'
                       for b in report["blocks"] if b.get("taylor")
                       and (blocks is None or b["name"] in blocks))
    return (heading("Taylor test: remainder versus step (slope 2 = right gradient)")
            + _plot(plot, inline, "nbgrad-taylor") + messages)


def worst_elements(blocks: list[dict[str, Any]], sort: str, limit: int = 20,
                   compact: bool = True) -> str:
    """Worst elements with analytic and numeric side by side: the failing ones, if any fail.

    With none failing, the static page (``compact``) shows the ``PASSING_ROWS`` closest
    calls, enough to show the margin; the widget shows every listed element.
    """
    pairs = [(b["name"], item) for b in blocks for item in b["worst"]]
    failing = [(name, item) for name, item in pairs if _flagged(blocks, name, item)]
    if not failing and compact:
        limit = min(limit, PASSING_ROWS)
    pairs = failing or pairs
    if not pairs:
        return ""
    pairs.sort(key=SORT_KEYS[sort])
    rows = [
        [
            f"<code>{html.escape(fmt.element(name, item['multi_index']))}</code>",
            html.escape(fmt.gradient_value(item, "analytic")),
            html.escape(fmt.gradient_value(item, "numeric")),
            html.escape(fmt.ratio(item)),
            _error_cell(item["rel_error"], _block(blocks, name)["tolerance"]),
            html.escape(fmt.num(item["step"], 1)),
        ]
        for name, item in pairs[:limit]
    ]
    headers = ["element", "analytic", "numeric", "analytic ÷ numeric", "rel. error", "step"]
    return heading(f"Worst elements (by {sort})") + table(headers, rows, "nbgrad-worst")


def failing_indices(blocks: list[dict[str, Any]], limit: int = 200) -> str:
    """The failing elements as a Python literal, folded, to copy into a notebook cell."""
    if not any(b["flagged"] for b in blocks):
        return ""
    cut = [b["name"] for b in blocks if b["n_flagged"] > min(len(b["flagged"]), limit)]
    more = (f'<p style="{NOTE_STYLE}">First {limit} per block; all in the report JSON '
            f"(blocks {html.escape(', '.join(cut))}).</p>" if cut else "")
    return (
        '<details class="nbgrad-failing-indices"><summary style="cursor: pointer">'
        "Failing indices (as Python)</summary>"
        f'<pre style="{PRE_STYLE}; white-space: pre-wrap">'
        f"{html.escape(fmt.failing_indices(blocks, limit))}</pre>{more}</details>"
    )


def _block(blocks: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(b for b in blocks if b["name"] == name)


def _flagged(blocks: list[dict[str, Any]], name: str, item: dict[str, Any]) -> bool:
    """The engine's verdict on the element: listed in its block's ``flagged`` indices."""
    return item["index"] in _block(blocks, name)["flagged"]


def _verdict_cell(block: dict[str, Any]) -> str:
    if block["passed"]:
        return badge("pass", "ok")
    return badge("flat", "FLAT") if "flat" in block["diagnoses"] else badge("fail", "FAIL")


def _error_cell(value: float | None, tolerance: float) -> str:
    colour = heatmap.hex_colour(heatmap.cell_colour(value, tolerance))
    return (f'<span style="display:inline-block;width:10px;height:10px;margin-right:4px;'
            f'background-color:{colour}"></span>{html.escape(fmt.num(value))}')


# --- determinism reports ----------------------------------------------------------------


def determinism_body(report: dict[str, Any]) -> str:
    return (
        error_section(report.get("error"))
        + divergence_section(report.get("first_divergence"), report.get("headline", ""))
        + variable_table(report)
        + fraction_plot(report)
        + divergence_plot(report)
        + step_table(report)
        + experiments(report["experiments"])
        + comparison(report.get("comparison"))
    )


def error_section(error: dict[str, Any] | None) -> str:
    if error is None:
        return ""
    poison = (" — only under poisoned allocations: evidence of uninitialised memory"
              if error["under_poison"] else "")
    return (
        heading(f"Run {error['run']} raised {error['type']}{poison}")
        + f'<p class="nbgrad-error" style="margin: 2px 0">{html.escape(error["type"])}: '
        f"{html.escape(error['message'])}</p>"
        + f'<pre style="{PRE_STYLE}">{html.escape(error["traceback"])}</pre>'
    )


def divergence_section(div: dict[str, Any] | None, headline: str = "") -> str:
    if div is None:
        return ""
    where = fmt.divergence_place(div)
    return (
        heading("First divergence")
        + f'<p style="margin: 2px 0">{html.escape(where)}. Cause: '
        f"<strong>{html.escape(div['cause'])}</strong> "
        f"({html.escape(fmt.percent(div['cause_confidence']))} confident, "
        f'<a style="color: {fmt.LINK}" rel="nofollow" '
        f'href="{html.escape(fmt.doc_link(div["cause"]))}">'
        "what this rests on</a>). "
        f"{html.escape(div['explanation'])}</p>"
        + _evidence(div)
        + source_context(div)
        + _allocation(div.get("allocation"))
        + _fix(div.get("fix"), headline)
        + (f'<p style="margin: 2px 0">{html.escape(div["chaos"]["words"])}</p>'
           if div.get("chaos") else "")
        + f'<p style="{NOTE_STYLE}">max abs diff '
        f"{html.escape(fmt.num(div['max_abs_diff']))}, max rel diff "
        f"{html.escape(fmt.num(div['max_rel_diff']))}, max ULPs "
        f"{html.escape(fmt.MISSING if div['max_ulps'] is None else str(div['max_ulps']))}</p>"
    )


def _evidence(div: dict[str, Any]) -> str:
    """The replicated experiments' counts the cause and its confidence are computed from."""
    if not div.get("counts"):
        return ""
    return f'<p style="{NOTE_STYLE}">evidence: {html.escape(div["counts"])}</p>'


def _fix(fix: dict[str, Any] | None, headline: str) -> str:
    """The fix: its words (unless the headline already says them) and the edited line."""
    if fix is None or fix["kind"] == "none":
        return ""
    change = ""
    if fix["before"] and fix["after"]:
        at = "" if fix["line"] is None else f"line {fix['line']}: "
        change = (f'<pre class="nbgrad-fix" style="{PRE_STYLE}">{html.escape(at)}'
                  f"- {html.escape(fix['before'])}\n{' ' * len(at)}+ "
                  f"{html.escape(fix['after'])}</pre>")
    words = fmt.fix_words(fix, headline)
    words = f" {html.escape(words)}" if words else ""
    if not words and not change:
        return ""
    return f'<p style="margin: 2px 0"><strong>Fix:</strong>{words}</p>' + change


def source_context(div: dict[str, Any]) -> str:
    """The source around the divergent line, that line highlighted."""
    lines = div["context"] or (
        [{"line": div["line"], "text": div["source"]}] if div["source"] is not None else []
    )
    if not lines:
        return ""
    rendered = []
    for item in lines:
        number = "" if item["line"] is None else str(item["line"])
        text = f"{number:>5} | {html.escape(item['text'])}"
        if item["line"] is not None and item["line"] == div["line"]:
            text = (f'<span class="nbgrad-divergent-line" style="background-color: '
                    f'{fmt.HIGHLIGHT}; color: {fmt.TEXT}; font-weight: bold; '
                    f'border-left: 3px solid #d62728">{text}</span>')
        rendered.append(text)
    return f'<pre class="nbgrad-source" style="{PRE_STYLE}">' + "\n".join(rendered) + "</pre>"


def _allocation(alloc: dict[str, Any] | None) -> str:
    if alloc is None:
        return ""
    at = f"line {alloc['line']}" if alloc["line"] is not None else "an unknown line"
    if alloc["function"]:
        at += f" of {alloc['function']}"
    return (
        f'<p style="margin: 2px 0">allocated by <code>{html.escape(alloc["call"])}</code> at '
        f"{html.escape(at)}: <code>{html.escape((alloc['source'] or fmt.MISSING).strip())}</code>"
        "</p>"
    )


def divergence_plot(report: dict[str, Any], variables: Sequence[str] | None = None,
                    inline: bool = False) -> str:
    if not report["per_step"]:
        return ""
    plot = svg.divergence_plot(report, variables)
    if svg.has_points(plot):
        return heading("Divergence per step") + _plot(plot, inline, "nbgrad-divergence-plot")
    if svg.has_non_finite(plot):  # seed 000: NaN poison everywhere, no size to put on an axis
        return heading("Divergence per step") + (
            '<p style="margin: 2px 0">Every difference between the runs is NaN or infinite '
            "(e.g. NaN poison read from uninitialised memory): there is no size to plot; the "
            "share of elements that differ is above.</p>")
    return heading("Divergence per step") + (
        '<p style="margin: 2px 0">No difference between runs at any step.</p>')


def variable_table(report: dict[str, Any]) -> str:
    """Per tracked variable (``variables``): first divergent step, how many steps, how much."""
    rows = [
        [f"<code>{html.escape(v['name'])}</code>",
         html.escape(fmt.MISSING if v["first_step"] is None else str(v["first_step"])),
         html.escape(f"{v['steps_diverged']} of {report['steps']}"),
         html.escape(fmt.first_fraction(v))]
        for v in report["variables"]
    ]
    if not rows or report["first_divergence"] is None:
        return ""
    return heading("Per variable") + table(
        ["variable", "first divergent step", "steps diverged", "elements differing there"],
        rows, "nbgrad-variables")


def fraction_plot(report: dict[str, Any], variables: Sequence[str] | None = None,
                  inline: bool = False) -> str:
    """Share of each variable's elements that differ, per step: finite even when the
    differences themselves are NaN (poison) or infinite."""
    plot = svg.fraction_plot(report, variables)
    if plot is None:
        return ""
    return heading("Elements differing per step") + _plot(plot, inline, "nbgrad-fraction-plot")


def step_table(report: dict[str, Any]) -> str:
    """The engine's collapsed per-step rows (``per_step_collapsed``), cut at 24."""
    rows = [
        [html.escape(label), html.escape(", ".join(row["diverged"]) or "identical"),
         html.escape(fmt.step_difference(row)), html.escape(fmt.fractions(row))]
        for label, row in fmt.step_rows(report, 24)
    ]
    if not rows:
        return ""
    return heading("Per step") + table(
        ["steps", "diverged", "max abs diff", "elements differing"], rows, "nbgrad-steps")


def experiments(items: list[dict[str, Any]]) -> str:
    if not items:
        return ""
    rows = [
        [html.escape(e["name"]), html.escape(e["poison"]), html.escape(e["rng"]),
         f"<strong>{html.escape(e['outcome'])}</strong>",
         html.escape(fmt.MISSING if e["first_step"] is None else str(e["first_step"])),
         html.escape(e["detail"])]
        for e in items
    ]
    headers = ["experiment", "poison", "RNG", "outcome", "first step", "detail"]
    return heading("What was tried to confirm the cause") + table(headers, rows,
                                                                  "nbgrad-experiments")


def comparison(comp: dict[str, Any] | None) -> str:
    if comp is None:
        return ""
    rows = [[html.escape(str(s["step"])), html.escape(fmt.num(s["max_abs_diff"]))]
            for s in comp["per_step"]]
    notes = "".join(f'<p style="margin: 2px 0">{html.escape(comp[key])}</p>'
                    for key in ("note", "error") if comp.get(key))
    return (heading(f"Gap to the {comp['reference']} run, per step") + notes
            + table(["step", "max abs diff"], rows, "nbgrad-comparison"))


def _plot(plot: svg.Plot, inline: bool, css_class: str) -> str:
    document = svg.render_svg(plot, tooltips=inline)  # an <img> shows no tooltips
    if inline:
        return f'<div class="{css_class}">{document}</div>'
    return svg.as_img(document, plot.title, css_class)


def _facts(report: dict[str, Any]) -> str:
    elapsed = fmt.seconds(report.get("elapsed_s", 0.0))
    if report["kind"] == "gradcheck":
        noise = report["noise"]
        noisy = f", noisy cost (floor {fmt.num(noise['floor'])})" if noise["noisy"] else ""
        return f"{report['mode']} mode, {report['evaluations']} evaluations, {elapsed}{noisy}"
    return (f"{report['runs']} runs, {report['steps']} steps, {report['backend']}, {elapsed}; "
            f"namespace restored to {report['restored']}")
