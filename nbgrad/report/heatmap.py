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
#: Shades a passing (blue) or failing (red) cell can take: fewer, longer runs of merged cells.
SHADES = 6
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


def hex_colour(colour: tuple[int, int, int]) -> str:
    """``#rrggbb``: the shortest colour the sanitiser accepts, for the thousands of cells."""
    return "#{:02x}{:02x}{:02x}".format(*colour)


def render_heatmap(block: dict[str, Any]) -> str:
    """The block's heatmap as a sanitiser-safe table, or a note when the report has none.

    Markup per cell is kept minimal (a 48×48 map has 2304 cells): sizes come
    from ``col`` and ``tr``, gaps from ``border-spacing``, text colour from the
    table.  A failing cell carries its colour (``bgcolor``, which the sanitiser
    allows on ``td``), its hover text, a class and a dark outline; passing cells
    are one of a few shades, and a run of equal ones in a row is one bare cell
    (``colspan``); the row label's hover text gives the row's worst error.  That
    keeps a passing report's page small whatever the block's size.
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
        f'<tr style="height:{px}px"><td title="{html.escape(_row_title(block, i, values))}">'
        f'{_span(i, heatmap["rows"], n_rows)}</td>' + _row_cells(block, i, values) + "</tr>"
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
    """One heatmap row: runs of one shade merged (``colspan``); failing runs keep hover text."""
    cells, j = [], 0
    while j < len(values):
        colour, failing = _colour(block, values[j]), _fails(block, values[j])
        end = j
        while (end + 1 < len(values) and _fails(block, values[end + 1]) == failing
               and _colour(block, values[end + 1]) == colour):
            end += 1
        span = f' colspan="{end - j + 1}"' if end > j else ""
        if failing:
            title = html.escape(_fail_title(block, i, j, end, values[j:end + 1]))
            cells.append(f'<td{span} class="nbgrad-fail" title="{title}" '
                         f'bgcolor="{hex_colour(colour)}" style="outline:1px solid #3a0010"></td>')
        else:
            cells.append(f'<td{span} bgcolor="{hex_colour(colour)}"></td>')
        j = end + 1
    return "".join(cells)


def coarsened(block: dict[str, Any], limit: int) -> dict[str, Any]:
    """The block with its heatmap max-pooled further to at most ``limit`` × ``limit`` cells.

    For a page over its size budget; max pooling keeps every failing cell visible.
    """
    heatmap = block["heatmap"]
    rows = _groups(heatmap["rows"], limit)
    cols = _groups(heatmap["cols"], limit)
    values = [[_max([heatmap["values"][r][c] for r in rr for c in cc]) for cc in cols]
              for rr in rows]
    pooled = {"rows": len(rows), "cols": len(cols), "pooled": True, "values": values}
    return {**block, "heatmap": pooled}


def _groups(length: int, limit: int) -> list[range]:
    width = math.ceil(length / limit)
    return [range(k, min(k + width, length)) for k in range(0, length, width)]


def _max(values: list[float | None]) -> float | None:
    checked = [v for v in values if v is not None]
    return max(checked) if checked else None


def _fails(block: dict[str, Any], value: float | None) -> bool:
    return value is not None and value > block["tolerance"] and "flat" not in block["diagnoses"]


def _colour(block: dict[str, Any], value: float | None) -> tuple[int, int, int]:
    if "flat" in block["diagnoses"] and value is not None:
        return FLAT
    if value is None:
        return UNCHECKED
    tolerance = block["tolerance"]
    if value > tolerance:  # shaded between the tolerance and 1 (a tolerance ≥ 1: as is)
        shaded = _shade(value, _log(tolerance), 0.0) if tolerance < 1 else value
        return cell_colour(shaded if shaded > tolerance else value, tolerance)
    return cell_colour(_shade(value, LOG_FLOOR, _log(tolerance)), tolerance)


def _shade(value: float, low: float, high: float) -> float:
    """``value`` rounded to one of ``SHADES`` levels of the log scale between 10^low, 10^high."""
    t = (_log(value) - low) / (high - low) if high > low else 1.0
    level = round(min(1.0, max(0.0, t)) * (SHADES - 1)) / (SHADES - 1)
    return 10.0 ** (low + level * (high - low))


def _row_title(block: dict[str, Any], i: int, values: list[float | None]) -> str:
    """Hover text of a row's label: the row and its worst error (failing cells have their own)."""
    heatmap = block["heatmap"]
    rows = _span(i, heatmap["rows"], _layout(block)[0])
    where = f"{block['name']}[:]" if len(block["shape"]) <= 1 else f"{block['name']}[{rows}, :]"
    checked = [v for v in values if v is not None]
    if not checked:
        return f"{where} not checked"
    if "flat" in block["diagnoses"]:
        return f"{where} flat: the cost does not change"
    return f"{where} at most {fmt.num(max(checked))}"


def legend(tolerance: float, flat: bool = False) -> str:
    """A colour bar from 1e-16 through the tolerance to 1; the flat swatch when a block is flat."""
    swatches = "".join(_swatch(cell_colour(10.0**e, tolerance))
                       for e in range(int(LOG_FLOOR), 1, 2))
    keys = f"{_swatch(UNCHECKED, 10)} not checked"
    if flat:
        keys += f"{_swatch(FLAT, 10)} flat: the cost does not change"
    return (
        f'<div class="nbgrad-legend" style="font-size: 11px; color: {fmt.TEXT}; '
        'margin: 2px 0">'
        f"rel. error 1e-16 {swatches} 1 &nbsp; (tolerance {html.escape(fmt.num(tolerance, 0))};"
        f" red = failing) {keys}</div>"
    )


def _swatch(colour: tuple[int, int, int], gap: int = 0) -> str:
    margin = f";margin-left:{gap}px" if gap else ""
    return (f'<span style="display:inline-block;width:14px;height:10px;'
            f'background-color:{hex_colour(colour)}{margin}"></span>')


def _fail_title(block: dict[str, Any], i: int, first: int, last: int,
                values: list[float | None]) -> str:
    """Hover text of a failing run: where (row, column range of the 2-D view) and its worst."""
    heatmap = block["heatmap"]
    n_rows, n_cols = _layout(block)
    start = _span(first, heatmap["cols"], n_cols).split("–")[0]
    stop = _span(last, heatmap["cols"], n_cols).split("–")[-1]
    cols = start if start == stop else f"{start}–{stop}"
    if len(block["shape"]) <= 1:
        where = f"{block['name']}[{cols}]"
    else:
        where = f"{block['name']}[{_span(i, heatmap['rows'], n_rows)}, {cols}]"
    return f"{where} {fmt.num(_max(values))} FAILS"


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
