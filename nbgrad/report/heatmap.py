"""Relative-error heatmap of one parameter block, as an HTML table of coloured cells.

Why a table and not SVG: JupyterLab sanitises the HTML of untrusted notebooks
(one opened from GitHub, a colleague, a course) and its allow-list has no
``svg`` tag, while ``table``/``td`` with inline ``style`` (``background-color``,
``width``, ``height``) and ``title`` survive.  A ``title`` on each cell gives
the hover value in every front end, kernel or not.

Colours: the scale is logarithmic in the relative error.  Cells within the
tolerance are shades of blue (pale = tiny error); failing cells are shades
from orange to dark red and carry a dark border, so a wrong row, column or
transposition stands out even to a reader who cannot tell the hues apart.
"""

from __future__ import annotations

import html
import math
from typing import Any

from nbgrad.report import fmt

#: Log10 of the smallest relative error the colour scale distinguishes.
LOG_FLOOR = -16.0
PASS_LIGHT = (235, 244, 252)
PASS_DARK = (49, 120, 189)
FAIL_LIGHT = (244, 109, 67)
FAIL_DARK = (165, 0, 38)
UNCHECKED = (224, 224, 224)
#: Cell edge in pixels: large blocks get smaller cells, so the map stays under ~500 px wide.
MAX_CELL_PX = 16
MIN_CELL_PX = 9


def cell_colour(value: float | None, tolerance: float) -> tuple[int, int, int]:
    """Colour of a cell: grey when unchecked, blue within tolerance, red beyond it."""
    if value is None:
        return UNCHECKED
    log_tol = _log(tolerance)
    log_value = _log(value)
    if value <= tolerance:
        return _mix(PASS_LIGHT, PASS_DARK, (log_value - LOG_FLOOR) / (log_tol - LOG_FLOOR))
    return _mix(FAIL_LIGHT, FAIL_DARK, (log_value - log_tol) / (0.0 - log_tol))


def rgb(colour: tuple[int, int, int]) -> str:
    return "rgb({}, {}, {})".format(*colour)


def hex_colour(colour: tuple[int, int, int]) -> str:
    """``#rrggbb``: the shortest colour the sanitiser accepts, for the thousands of cells."""
    return "#{:02x}{:02x}{:02x}".format(*colour)


def cell_count(block: dict[str, Any]) -> int:
    heatmap = block.get("heatmap")
    return 0 if heatmap is None else heatmap["rows"] * heatmap["cols"]


def render_heatmap(block: dict[str, Any]) -> str:
    """The block's heatmap as a sanitiser-safe table, or a note when the report has none.

    Markup per cell is kept minimal (a 48×48 map has 2304 cells): sizes come
    from ``col`` and ``tr``, gaps from ``border-spacing``; a cell carries only
    its colour (``bgcolor``, which the sanitiser allows on ``td``), its hover
    text and, when failing, a class and a dark outline.
    """
    heatmap = block.get("heatmap")
    if heatmap is None:
        return '<p style="color: #666666">No heatmap in this report for this block.</p>'
    px = _cell_px(heatmap["cols"])
    n_rows, n_cols = _layout(block)
    col_step = max(1, math.ceil(heatmap["cols"] / 12))
    columns = "<col>" + f'<col style="width: {px}px">' * heatmap["cols"]
    header = "".join(
        _axis_label(_span(j, heatmap["cols"], n_cols) if j % col_step == 0 else "")
        for j in range(heatmap["cols"])
    )
    rows = "".join(
        f'<tr style="height: {px}px">{_axis_label(_span(i, heatmap["rows"], n_rows))}'
        + "".join(_cell(block, i, j, value) for j, value in enumerate(values))
        + "</tr>"
        for i, values in enumerate(heatmap["values"])
    )
    return (
        '<div style="display: inline-block; vertical-align: top; margin: 4px 18px 4px 0">'
        f'<div style="font-size: 12px; margin-bottom: 2px">{_caption(block)}</div>'
        '<table class="nbgrad-heatmap" style="border-collapse: separate; border-spacing: 1px; '
        f'table-layout: fixed; font-size: 9px; line-height: 1">{columns}'
        f"<tr><th></th>{header}</tr>{rows}</table></div>"
    )


def legend(tolerance: float) -> str:
    """A colour bar from 1e-16 through the tolerance to 1, with the three values labelled."""
    exponents = range(int(LOG_FLOOR), 1, 2)
    swatches = "".join(
        f'<span title="{html.escape(fmt.num(10.0**e, 0))}" style="display: inline-block; '
        f'width: 14px; height: 10px; background-color: {rgb(cell_colour(10.0**e, tolerance))}">'
        "</span>"
        for e in exponents
    )
    unchecked = (
        f'<span style="display: inline-block; width: 14px; height: 10px; margin-left: 10px; '
        f'background-color: {rgb(UNCHECKED)}"></span> not checked'
    )
    return (
        '<div class="nbgrad-legend" style="font-size: 11px; color: #444444; margin: 2px 0">'
        f"rel. error 1e-16 {swatches} 1 &nbsp; (tolerance {html.escape(fmt.num(tolerance, 0))};"
        f" red = failing) {unchecked}</div>"
    )


def _cell(block: dict[str, Any], i: int, j: int, value: float | None) -> str:
    tolerance = block["tolerance"]
    colour = hex_colour(cell_colour(value, tolerance))
    title = html.escape(_cell_title(block, i, j, value))
    if value is not None and value > tolerance:
        return (f'<td class="nbgrad-fail" title="{title}" bgcolor="{colour}" '
                'style="outline: 1px solid #3a0010"></td>')
    return f'<td title="{title}" bgcolor="{colour}"></td>'


def _cell_title(block: dict[str, Any], i: int, j: int, value: float | None) -> str:
    """Hover text: where (row and column of the 2-D view; ranges when pooled) and the error."""
    heatmap = block["heatmap"]
    n_rows, n_cols = _layout(block)
    cols = _span(j, heatmap["cols"], n_cols)
    if len(block["shape"]) <= 1:
        where = f"{block['name']}[{cols}]"
    else:
        where = f"{block['name']}[{_span(i, heatmap['rows'], n_rows)}, {cols}]"
    if value is None:
        return f"{where} not checked"
    return f"{where} {fmt.num(value)}{' FAILS' if value > block['tolerance'] else ''}"


def _caption(block: dict[str, Any]) -> str:
    heatmap = block["heatmap"]
    n_rows, n_cols = _layout(block)
    pooled = (
        f", max-pooled from {n_rows}×{n_cols} to {heatmap['rows']}×{heatmap['cols']}"
        if heatmap["pooled"]
        else ""
    )
    view = "" if len(block["shape"]) <= 2 else f" viewed as {n_rows}×{n_cols}"
    return html.escape(
        f"{block['name']} ({fmt.shape(block['shape'])}{view}{pooled}): "
        f"{block['n_flagged']} of {block['checked']} checked elements fail"
    )


def _layout(block: dict[str, Any]) -> tuple[int, int]:
    """The block's 2-D view per the contract: 1-D is one row, N-D is rows × last axis."""
    dims = block["shape"] or [1]
    cols = dims[-1]
    return (math.prod(dims[:-1]) if len(dims) > 1 else 1), cols


def _span(position: int, pooled: int, full: int) -> str:
    """Original index (or index range, when pooled) that heatmap row/column ``position`` covers."""
    start = position * full // pooled
    stop = max(start, (position + 1) * full // pooled - 1)
    return str(start) if start == stop else f"{start}–{stop}"


def _axis_label(text: str) -> str:
    return f'<th style="font-weight: normal; color: #555555">{html.escape(text)}</th>'


def _cell_px(cols: int) -> int:
    return max(MIN_CELL_PX, min(MAX_CELL_PX, 480 // max(cols, 1)))


def _log(value: float) -> float:
    return max(LOG_FLOOR, math.log10(value)) if value > 0 else LOG_FLOOR


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, t))
    red, green, blue = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return red, green, blue
