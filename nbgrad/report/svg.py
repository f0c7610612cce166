"""Small dependency-free SVG line plots: the step-size V curve and the divergence plot.

No plotting library: the output must be a few kilobytes of static markup that
renders without a kernel or network.  Every plot is built here as an SVG
document; :func:`as_img` wraps it in an ``<img>`` data URI for the static HTML
(JupyterLab's sanitiser strips inline ``<svg>`` in untrusted notebooks but
keeps ``img`` with a data ``src``), while the live widget embeds the SVG
inline so the per-point ``<title>`` tooltips show on hover.

An image cannot see the page's CSS variables, so every plot paints its own
white background: its dark text and saturated lines read the same in a light
or a dark notebook.  Labels (the chosen step, the tolerance, markers) sit in
the key beside the plot, never on the data.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nbgrad.report import fmt

WIDTH, HEIGHT = 520, 260
LEFT, RIGHT, TOP, BOTTOM = 62, 170, 36, 40
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")


@dataclass
class Series:
    """One line: points with a null (None) or non-positive y on a log axis are gaps."""

    name: str
    xs: Sequence[float]
    ys: Sequence[float | None]
    colour: str
    dashed: bool = False
    #: x positions where the value exists but is not finite (NaN/Inf): drawn above the axis.
    off_scale: Sequence[float] = ()
    #: Markers only, no line ("dot" or "cross"); ``None`` draws a line through dots.
    marker: str | None = None
    #: Hover text per point (default: the coordinates).
    tips: Sequence[str] = ()


@dataclass
class Plot:
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    x_log: bool = True
    #: Log y axis (errors, differences); linear for shares between 0 and 1.
    y_log: bool = True
    #: Symmetric-log axes (both), linear within ±``linear`` of 0: signed values, e.g. gradients.
    symlog: float | None = None
    #: Vertical markers: (x, label), e.g. the chosen step or the first divergent step.
    marks: list[tuple[float, str]] = field(default_factory=list)
    #: Horizontal reference lines: (y, label), e.g. the tolerance.
    levels: list[tuple[float, str]] = field(default_factory=list)


def has_points(plot: Plot) -> bool:
    """Whether any finite value can be drawn (zeros cannot sit on a log axis)."""
    return bool(_points(plot))


def has_non_finite(plot: Plot) -> bool:
    """Whether some value exists but is NaN/Inf (drawn as markers along the top)."""
    return any(s.off_scale for s in plot.series)


def render_svg(plot: Plot, tooltips: bool = True) -> str:
    """The plot as a standalone SVG document (log y; linear or log x; or symmetric-log both).

    ``tooltips`` adds a ``<title>`` per point (inline SVG in the live widget); an
    ``<img>`` shows none, so the static page leaves them out.
    """
    points = _points(plot)
    off_scale = [x for s in plot.series for x in s.off_scale]
    if not points and not off_scale:
        return _empty(plot)
    if plot.symlog is not None:
        values = [v for point in points for v in point]
        x_axis = _Axis.fit(values, "symlog", LEFT, WIDTH - RIGHT, plot.symlog)
        y_axis = _Axis.fit(values, "symlog", HEIGHT - BOTTOM, TOP, plot.symlog)
    else:
        x_axis = _Axis.fit([x for x, _ in points] + off_scale + [m for m, _ in plot.marks],
                           "log" if plot.x_log else "linear", LEFT, WIDTH - RIGHT)
        y_values = [y for _, y in points] + [v for v, _ in plot.levels] or [1.0]
        if not plot.y_log:
            y_values += [0.0, 1.0]
        y_axis = _Axis.fit(y_values, "log" if plot.y_log else "linear", HEIGHT - BOTTOM, TOP)
    body = [
        _frame(plot, x_axis, y_axis),
        *(_level(y_axis, value) for value, _ in plot.levels),
        *(_mark(x_axis, value, label) for value, label in plot.marks),
        *(_line(s, plot, x_axis, y_axis, tooltips) for s in plot.series),
        *(_off_scale(s, x_axis, 9 * (k % 6)) for k, s in enumerate(plot.series)),
        _key(plot),
    ]
    return _document(plot.title, "".join(body))


def as_img(svg: str, alt: str, css_class: str) -> str:
    """Embed an SVG document as an ``<img>`` data URI (survives HTML sanitisers)."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (
        f'<img class="{css_class}" alt="{html.escape(alt)}" width="{WIDTH}" height="{HEIGHT}" '
        f'src="data:image/svg+xml;base64,{data}">'
    )


def step_curve_plot(curve: dict[str, Any], tolerance: float | None,
                    shape: Sequence[int] = ()) -> Plot:
    """The V curve: relative error against step size for the worst element, log-log.

    Titled with the element as the tables write it (``Whh[2, 4]``), one quantity
    on the axis and in the key.
    """
    name = fmt.element(curve["block"], fmt.unravel(curve["index"], shape) if shape else [])
    if curve.get("component"):
        name += f" ({curve['component']} part)"
    levels = [(tolerance, f"tolerance {fmt.num(tolerance, 0)}")] if tolerance else []
    return Plot(
        title=f"{name}: relative error vs step h",
        x_label="step h",
        y_label="relative error",
        series=[Series("relative error", curve["steps"], curve["rel_errors"], PALETTE[0])],
        marks=[(curve["chosen_step"], f"chosen h = {fmt.num(curve['chosen_step'], 1)}")],
        levels=levels,
    )


def scatter_plot(block: dict[str, Any]) -> Plot:
    """Analytic against numeric for the block's listed (worst) elements, symmetric-log axes.

    Right elements sit on y = x; the engine's failing ones (``flagged``) are red crosses.
    """
    flagged = set(block["flagged"])
    elements = [e for e in block["worst"] if e["analytic"] is not None and e["numeric"] is not None]
    groups = {True: [e for e in elements if e["index"] in flagged],
              False: [e for e in elements if e["index"] not in flagged]}
    magnitudes = [abs(v) for e in elements for v in (e["analytic"], e["numeric"]) if v]
    series = [
        Series("failing" if failing else "agreeing", [e["numeric"] for e in group],
               [e["analytic"] for e in group], PALETTE[1] if failing else PALETTE[0],
               marker="cross" if failing else "dot",
               tips=[f"{fmt.element(block['name'], e['multi_index'])}: analytic "
                     f"{fmt.plain(e['analytic'])}, numeric {fmt.plain(e['numeric'])}"
                     for e in group])
        for failing, group in groups.items() if group
    ]
    return Plot(
        title=f"{block['name']}: analytic vs numeric ({len(elements)} worst elements)",
        x_label="numeric",
        y_label="analytic",
        series=series,
        symlog=min(magnitudes) if magnitudes else 1.0,
    )


def taylor_plot(report: dict[str, Any], blocks: Sequence[str] | None = None) -> Plot | None:
    """Taylor-test remainders against the step, one line per block, log-log; None without one.

    Reads each block's ``taylor`` entry (docs/report-schema.md): ``remainders`` against
    ``steps``, the order at the smallest step in the key (the text says them all: the
    block's ``taylor.message``), and a dashed h² guide through the first
    block's largest-step remainder (a right gradient runs parallel to it).  A single
    block also gets its rounding ``floor`` as a horizontal line.
    """
    entries = [(b["name"], b["taylor"]) for b in report["blocks"]
               if b.get("taylor") and (blocks is None or b["name"] in blocks)]
    if not entries:
        return None
    series = []
    for k, (name, taylor) in enumerate(entries):
        orders = [o for o in taylor["orders"] if o is not None]
        last = f"order {orders[-1]:.2f}" if orders else "no order above rounding"
        series.append(Series(f"{name}: {last}", taylor["steps"], taylor["remainders"],
                             PALETTE[k % len(PALETTE)]))
    steps, remainders = entries[0][1]["steps"], entries[0][1]["remainders"]
    if remainders and remainders[0]:
        guide = [remainders[0] * (h / steps[0]) ** 2 for h in steps]
        series.append(Series("∝ h² (right gradient)", steps, guide, "#555555", dashed=True))
    floor = entries[0][1]["floor"]
    levels = [(floor, "rounding floor")] if len(entries) == 1 and floor else []
    return Plot(title="Taylor test: remainder |C(θ+hd) − C(θ) − h·gᵀd| vs h",
                x_label="step h", y_label="remainder", series=series, levels=levels)


def divergence_plot(report: dict[str, Any], variables: Sequence[str] | None = None) -> Plot:
    """Max abs difference between runs per step and per tracked variable, log y axis."""
    names = list(variables) if variables is not None else list(report["tracked"])
    steps = [s["step"] for s in report["per_step"]]
    series = [
        Series(name, steps, [s["by_variable"].get(name) for s in report["per_step"]],
               PALETTE[k % len(PALETTE)], off_scale=_non_finite_steps(report["per_step"], name))
        for k, name in enumerate(names)
    ]
    comparison = report.get("comparison")
    if comparison is not None:
        series += [
            Series(f"{name} vs {comparison['reference']}",
                   [s["step"] for s in comparison["per_step"]],
                   [s["by_variable"].get(name) for s in comparison["per_step"]],
                   PALETTE[k % len(PALETTE)], dashed=True)
            for k, name in enumerate(names)
        ]
    first = report.get("first_divergence")
    return Plot(
        title="max abs difference between runs, per step",
        x_label="step",
        y_label="max |Δ|",
        series=series,
        x_log=False,
        marks=[(first["step"], "first divergence")] if first else [],
    )


def fraction_plot(report: dict[str, Any], variables: Sequence[str] | None = None) -> Plot | None:
    """Share of each variable's elements differing between runs, per step (linear, 0 to 1).

    From the report's ``variables[].fraction_per_step``; a fraction is finite even when the
    differences are NaN (poison), so this plot reads where the difference plot cannot.
    """
    wanted = set(variables) if variables is not None else None
    chosen = [v for v in report["variables"]
              if v["first_step"] is not None and (wanted is None or v["name"] in wanted)]
    if not chosen:
        return None
    steps = [s["step"] for s in report["per_step"]]
    series = [
        Series(v["name"], steps[:len(v["fraction_per_step"])], v["fraction_per_step"],
               PALETTE[k % len(PALETTE)])
        for k, v in enumerate(chosen)
    ]
    first = report.get("first_divergence")
    return Plot(title="share of elements that differ between runs, per step", x_label="step",
                y_label="share differing", series=series, x_log=False, y_log=False,
                marks=[(first["step"], "first divergence")] if first else [])


def _non_finite_steps(per_step: list[dict[str, Any]], name: str) -> list[float]:
    """Steps where ``name`` diverged but its difference is null: NaN or infinite."""
    return [s["step"] for s in per_step
            if name in s["diverged"] and s["by_variable"].get(name) is None]


@dataclass
class _Axis:
    low: float
    high: float
    scale: str  # "linear", "log" or "symlog"
    start: float
    end: float
    linear: float = 1.0  # symlog: the half-width of the linear region around 0

    @classmethod
    def fit(cls, values: list[float], scale: str, start: float, end: float,
            linear: float = 1.0) -> _Axis:
        axis = cls(0.0, 1.0, scale, start, end, linear)
        mapped = [axis.transform(v) for v in values]
        low, high = min(mapped), max(mapped)
        if scale == "log":
            low, high = math.floor(low), math.ceil(high)
        if scale == "symlog":
            reach = max(abs(low), abs(high), 1.0)
            low, high = -reach * 1.05, reach * 1.05
        if high - low < 1e-12:
            low, high = low - 1, high + 1
        axis.low, axis.high = low, high
        return axis

    def transform(self, value: float) -> float:
        if self.scale == "log":
            return math.log10(value)
        if self.scale == "symlog":
            return math.copysign(math.log10(1 + abs(value) / self.linear), value)
        return value

    def __call__(self, value: float) -> float:
        v = self.transform(value)
        return self.start + (v - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        if self.scale == "log":
            stride = max(1, math.ceil((self.high - self.low) / 6))
            return [(10.0**e, f"1e{e}") for e in range(int(self.low), int(self.high) + 1, stride)]
        if self.scale == "symlog":
            top = self.linear * (10 ** self.high - 1)
            exponents = range(math.ceil(math.log10(self.linear)), math.floor(math.log10(top)) + 1)
            stride = max(1, math.ceil(len(exponents) / 3))
            chosen = [10.0**e for e in exponents][::-1][::stride]
            return [(0.0, "0")] + [(sign * v, f"{'−' if sign < 0 else ''}1e{round(math.log10(v))}")
                                   for v in chosen for sign in (1, -1)]
        if self.high - self.low <= 2:  # shares between 0 and 1: quarter steps
            quarters = range(math.ceil(self.low * 4), math.floor(self.high * 4) + 1)
            return [(q / 4, f"{q / 4:g}") for q in quarters]
        stride = max(1, math.ceil((self.high - self.low) / 8))
        first = math.ceil(self.low)
        return [(float(v), str(v)) for v in range(first, int(self.high) + 1, stride)]


def _points(plot: Plot) -> list[tuple[float, float]]:
    return [
        (x, y)
        for s in plot.series for x, y in zip(s.xs, s.ys, strict=True)
        if y is not None and _usable(x, y, plot)
    ]


def _usable(x: float, y: float | None, plot: Plot) -> bool:
    if plot.symlog is not None or (not plot.y_log and y is not None):
        return y is not None and (not plot.x_log or x > 0)
    return y is not None and y > 0 and (not plot.x_log or x > 0)


def _frame(plot: Plot, x_axis: _Axis, y_axis: _Axis) -> str:
    parts = [
        f'<rect width="{WIDTH}" height="{HEIGHT}" rx="4" fill="#ffffff"/>',
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="#ffffff" stroke="#888888"/>',
    ]
    # Ticks, grid lines and their labels grouped: one path each, anchors set once.
    x_ticks = [(x_axis(value), label) for value, label in x_axis.ticks()]
    y_ticks = [(y_axis(value), label) for value, label in y_axis.ticks()]
    marks = "".join(f"M{x:.0f} {HEIGHT - BOTTOM}v4" for x, _ in x_ticks)
    grid = "".join(f"M{LEFT} {y:.0f}H{WIDTH - RIGHT}" for y, _ in y_ticks)
    parts.append(f'<path d="{marks}" stroke="#888888"/><path d="{grid}" stroke="#eeeeee"/>')
    parts.append('<g text-anchor="middle">' + "".join(
        _text(x, HEIGHT - BOTTOM + 15, label) for x, label in x_ticks) + "</g>")
    parts.append('<g text-anchor="end">' + "".join(
        _text(LEFT - 4, y + 3, label) for y, label in y_ticks) + "</g>")
    if plot.symlog is not None:  # the y = x diagonal: where right elements sit
        low, high = max(x_axis.low, y_axis.low), min(x_axis.high, y_axis.high)
        ends = [x_axis.start + (v - x_axis.low) / (x_axis.high - x_axis.low)
                * (x_axis.end - x_axis.start) for v in (low, high)]
        tops = [y_axis.start + (v - y_axis.low) / (y_axis.high - y_axis.low)
                * (y_axis.end - y_axis.start) for v in (low, high)]
        parts.append(f'<line x1="{ends[0]:.1f}" y1="{tops[0]:.1f}" x2="{ends[1]:.1f}" '
                     f'y2="{tops[1]:.1f}" stroke="#555555" stroke-dasharray="4 3"/>')
    parts.append(_text(LEFT + (WIDTH - LEFT - RIGHT) / 2, HEIGHT - 6, plot.x_label, "middle"))
    parts.append(_text(8, TOP - 6, plot.y_label))  # its own line, under the title
    parts.append(_text(8, 14, plot.title, weight="bold"))
    return "".join(parts)


def _line(series: Series, plot: Plot, x_axis: _Axis, y_axis: _Axis, tooltips: bool) -> str:
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    segments: list[list[tuple[float, float]]] = [[]]
    dots = []
    for k, (x, y) in enumerate(zip(series.xs, series.ys, strict=True)):
        if y is None or not _usable(x, y, plot):
            segments.append([])
            continue
        px, py = x_axis(x), y_axis(y)
        segments[-1].append((px, py))
        tip = "" if not tooltips else html.escape(
            series.tips[k] if series.tips else
            f"{series.name}: {fmt.num(x, 1) if plot.x_log else x} → {fmt.num(y)}")
        dots.append(_marker(series, px, py, tip))
    if series.marker is not None:
        return "".join(dots)
    lines = "".join(
        f'<polyline fill="none" stroke="{series.colour}" stroke-width="1.6"{dash} points="'
        + " ".join(f"{px:.0f},{py:.0f}" for px, py in segment) + '"/>'
        for segment in segments if len(segment) > 1
    )
    return lines + ("" if series.dashed else "".join(dots))


def _marker(series: Series, px: float, py: float, tip: str) -> str:
    title = f"<title>{tip}</title>" if tip else ""
    if series.marker == "cross":
        return (f'<path d="M{px - 4:.0f} {py - 4:.0f}l8 8m0-8l-8 8" '
                f'stroke="{series.colour}" stroke-width="2">{title}</path>')
    circle = f'<circle cx="{px:.0f}" cy="{py:.0f}" r="3" fill="{series.colour}"'
    return f"{circle}>{title}</circle>" if title else f"{circle}/>"


def _off_scale(series: Series, x_axis: _Axis, lift: int) -> str:
    """A downward triangle along the top of the plot for each non-finite value, a row per series."""
    return "".join(
        f'<path d="M {x_axis(x) - 4:.0f} {TOP + 2 + lift} h 8 l -4 7 z" fill="{series.colour}" '
        f'stroke="#000000" stroke-width="0.5"><title>'
        f"{html.escape(f'{series.name}: step {x:g} → non-finite difference (NaN/Inf)')}"
        "</title></path>"
        for x in series.off_scale
    )


def _mark(x_axis: _Axis, value: float, label: str) -> str:
    x = x_axis(value)
    return (f'<line x1="{x:.0f}" y1="{TOP}" x2="{x:.0f}" y2="{HEIGHT - BOTTOM}" stroke="#000000" '
            f'stroke-dasharray="3 3"><title>{html.escape(label)}</title></line>')


def _level(y_axis: _Axis, value: float) -> str:
    y = y_axis(value)
    return (f'<line x1="{LEFT}" y1="{y:.0f}" x2="{WIDTH - RIGHT}" y2="{y:.0f}" stroke="#d62728" '
            'stroke-dasharray="6 3"/>')


def _key(plot: Plot) -> str:
    """The key right of the plot: series, then vertical marks and horizontal levels."""
    entries = [(s.colour, s.dashed, s.marker, s.name) for s in plot.series[:12]]
    entries += [("#000000", True, None, label) for _, label in plot.marks]
    entries += [("#d62728", True, None, label) for _, label in plot.levels]
    if any(s.off_scale for s in plot.series):
        entries.append(("#000000", False, "triangle", "NaN/Inf"))
    if plot.symlog is not None:
        entries.append(("#555555", True, None, "y = x"))
    rows = []
    for k, (colour, dashed, marker, name) in enumerate(entries):
        y = TOP + 10 + 14 * k
        x = WIDTH - RIGHT + 8
        if marker == "triangle":
            sample = f'<path d="M {x + 4} {y - 7} h 8 l -4 7 z" fill="{colour}"/>'
        elif marker is not None:
            sample = _marker(Series("", [], [], colour, marker=marker), x + 8, y - 3, name)
        else:
            dash = ' stroke-dasharray="4 2"' if dashed else ""
            sample = (f'<line x1="{x}" y1="{y - 3}" x2="{x + 16}" y2="{y - 3}" '
                      f'stroke="{colour}" stroke-width="2"{dash}/>')
        rows.append(sample + _text(x + 20, y, name))
    return "".join(rows)


def _text(x: float, y: float, text: str, anchor: str = "start", weight: str = "normal") -> str:
    """Text in the document's default font size and colour (set once on the ``svg`` element)."""
    extra = (f' text-anchor="{anchor}"' if anchor != "start" else "") + (
        f' font-weight="{weight}"' if weight != "normal" else "")
    return f'<text x="{x:.0f}" y="{y:.0f}"{extra}>{html.escape(text)}</text>'


def _empty(plot: Plot) -> str:
    note = _text(WIDTH / 2, HEIGHT / 2, "no non-zero differences to plot", anchor="middle")
    return _document(plot.title, f'<rect width="{WIDTH}" height="{HEIGHT}" rx="4" '
                     f'fill="#ffffff"/>' + _text(LEFT, 14, plot.title, weight="bold") + note)


def _document(title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="10" fill="#333333">'
        f"<title>{html.escape(title)}</title>{body}</svg>"
    )
