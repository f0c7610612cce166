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
#: A flat block's cells: its tiny relative errors are not "ok", the cost does not move.
FLAT = (222, 170, 40)
#: Cell edge in pixels: large blocks get smaller cells, so the map stays under ~500 px wide.
MAX_CELL_PX = 16
#: Shades of blue a passing cell can take (fewer shades: longer runs of merged cells).
PASS_SHADES = 6
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
    from ``col`` and ``tr``, gaps from ``border-spacing``, text colour from the
    table.  A failing cell carries its colour (``bgcolor``, which the sanitiser
    allows on ``td``), its hover text, a class and a dark outline; passing cells
    are one of a few shades, and a run of equal ones in a row is one cell
    (``colspan``) whose hover text is the row's worst error.  That keeps a
    passing report's page small whatever the block's size.
    """
    heatmap = block.get("heatmap")
    if heatmap is None:
        return (f'<p style="color: {fmt.TEXT_SECONDARY}">'
                "No heatmap in this report for this block.</p>")
    px = _cell_px(heatmap["cols"])
    n_rows, n_cols = _layout(block)
    step = max(1, math.ceil(heatmap["cols"] / 12))
    columns = "<col>" + f'<col style="width:{px}px">' * heatmap["cols"]
    header = "".join(
        f'<td colspan="{min(step, heatmap["cols"] - j)}">{_span(j, heatmap["cols"], n_cols)}</td>'
        for j in range(0, heatmap["cols"], step)
    )
    rows = "".join(
        f'<tr style="height:{px}px"><td>{_span(i, heatmap["rows"], n_rows)}</td>'
        + _row_cells(block, i, values) + "</tr>"
        for i, values in enumerate(heatmap["values"])
    )
    return (
        '<div style="display: inline-block; vertical-align: top; margin: 4px 18px 4px 0">'
        f'<div style="font-size: 12px; margin-bottom: 2px">{_caption(block)}</div>'
        '<table class="nbgrad-heatmap" style="border-collapse: separate; border-spacing: 1px; '
        f'table-layout: fixed; font-size: 9px; line-height: 1; color: {fmt.TEXT_SECONDARY}">'
        f"{columns}<tr><td></td>{header}</tr>{rows}</table></div>"
    )


def _row_cells(block: dict[str, Any], i: int, values: list[float | None]) -> str:
    """One heatmap row: failing cells one by one, runs of one passing shade merged."""
    cells, j = [], 0
    while j < len(values):
        if _fails(block, values[j]):
            title = html.escape(_cell_title(block, i, j, values[j]))
            cells.append(f'<td class="nbgrad-fail" title="{title}" '
                         f'bgcolor="{hex_colour(_colour(block, values[j]))}" '
                         'style="outline:1px solid #3a0010"></td>')
            j += 1
            continue
        colour = _colour(block, values[j])
        end = j
        while (end + 1 < len(values) and not _fails(block, values[end + 1])
               and _colour(block, values[end + 1]) == colour):
            end += 1
        span = f' colspan="{end - j + 1}"' if end > j else ""
        title = html.escape(_run_title(block, i, j, end, values[j:end + 1]))
        cells.append(f'<td{span} title="{title}" bgcolor="{hex_colour(colour)}"></td>')
        j = end + 1
    return "".join(cells)


def _fails(block: dict[str, Any], value: float | None) -> bool:
    return value is not None and value > block["tolerance"] and "flat" not in block["diagnoses"]


def _colour(block: dict[str, Any], value: float | None) -> tuple[int, int, int]:
    if "flat" in block["diagnoses"] and value is not None:
        return FLAT
    colour = cell_colour(value, block["tolerance"])
    if value is None or value > block["tolerance"]:
        return colour
    return cell_colour(_shade(value, block["tolerance"]), block["tolerance"])


def _shade(value: float, tolerance: float) -> float:
    """A passing value rounded to one of ``PASS_SHADES`` levels of the log scale."""
    t = (_log(value) - LOG_FLOOR) / (_log(tolerance) - LOG_FLOOR)
    level = round(min(1.0, max(0.0, t)) * (PASS_SHADES - 1)) / (PASS_SHADES - 1)
    return 10.0 ** (LOG_FLOOR + level * (_log(tolerance) - LOG_FLOOR))


def _run_title(block: dict[str, Any], i: int, first: int, last: int,
               values: list[float | None]) -> str:
    checked = [v for v in values if v is not None]
    if first == last or not checked:
        return _cell_title(block, i, first, checked[0] if checked else None)
    where = _cell_title(block, i, first, None).rsplit("[", 1)[0]
    heatmap = block["heatmap"]
    _, n_cols = _layout(block)
    start = _span(first, heatmap["cols"], n_cols).split("–")[0]
    stop = _span(last, heatmap["cols"], n_cols).split("–")[-1]
    rows = _span(i, heatmap["rows"], _layout(block)[0])
    index = f"{start}–{stop}" if len(block["shape"]) <= 1 else f"{rows}, {start}–{stop}"
    if "flat" in block["diagnoses"]:
        return f"{where}[{index}] flat: the cost does not change"
    return f"{where}[{index}] at most {fmt.num(max(checked))}"


def legend(tolerance: float, flat: bool = False) -> str:
    """A colour bar from 1e-16 through the tolerance to 1; the flat swatch when a block is flat."""
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
    if flat:
        unchecked += (
            f'<span style="display: inline-block; width: 14px; height: 10px; margin-left: 10px; '
            f'background-color: {rgb(FLAT)}"></span> flat: the cost does not change'
        )
    return (
        f'<div class="nbgrad-legend" style="font-size: 11px; color: {fmt.TEXT}; '
        'margin: 2px 0">'
        f"rel. error 1e-16 {swatches} 1 &nbsp; (tolerance {html.escape(fmt.num(tolerance, 0))};"
        f" red = failing) {unchecked}</div>"
    )


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
    if "flat" in block["diagnoses"]:
        return f"{where} flat: the cost does not change"
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
    mode = "fast" if block.get("fast") else "full"  # only fast mode's blocks carry ``fast``
    return html.escape(
        f"{block['name']} ({fmt.shape(block['shape'])}{view}{pooled}): "
        f"{fmt.checked_words(block, mode)}"
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


def _cell_px(cols: int) -> int:
    return max(MIN_CELL_PX, min(MAX_CELL_PX, 480 // max(cols, 1)))


def _log(value: float) -> float:
    return max(LOG_FLOOR, math.log10(value)) if value > 0 else LOG_FLOOR


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, t))
    red, green, blue = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return red, green, blue
