"""Small dependency-free SVG line plots: the step-size V curve and the divergence plot.

No plotting library: the output must be a few kilobytes of static markup that
renders without a kernel or network.  Every plot is built here as an SVG
document; :func:`as_img` wraps it in an ``<img>`` data URI for the static HTML
(JupyterLab's sanitiser strips inline ``<svg>`` in untrusted notebooks but
keeps ``img`` with a data ``src``), while the live widget embeds the SVG
inline so the per-point ``<title>`` tooltips show on hover.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nbgrad.report import fmt

WIDTH, HEIGHT = 460, 250
LEFT, RIGHT, TOP, BOTTOM = 62, 120, 26, 40
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


@dataclass
class Plot:
    title: str
    x_label: str
    y_label: str
    series: list[Series]
    x_log: bool = True
    #: Vertical markers: (x, label), e.g. the chosen step or the first divergent step.
    marks: list[tuple[float, str]] = field(default_factory=list)
    #: Horizontal reference lines: (y, label), e.g. the tolerance.
    levels: list[tuple[float, str]] = field(default_factory=list)


def has_points(plot: Plot) -> bool:
    """Whether anything can be drawn (zeros cannot sit on a log axis; non-finite values can)."""
    return bool(_points(plot)) or any(s.off_scale for s in plot.series)


def render_svg(plot: Plot) -> str:
    """The plot as a standalone SVG document (log y axis, linear or log x axis)."""
    points = _points(plot)
    off_scale = [x for s in plot.series for x in s.off_scale]
    if not points and not off_scale:
        return _empty(plot)
    x_axis = _Axis.fit([x for x, _ in points] + off_scale + [m for m, _ in plot.marks],
                       plot.x_log, LEFT, WIDTH - RIGHT)
    y_axis = _Axis.fit([y for _, y in points] + [v for v, _ in plot.levels] or [1.0], True,
                       HEIGHT - BOTTOM, TOP)
    body = [
        _frame(plot, x_axis, y_axis),
        *(_level(y_axis, value, label) for value, label in plot.levels),
        *(_mark(x_axis, value, label) for value, label in plot.marks),
        *(_line(s, plot, x_axis, y_axis) for s in plot.series),
        *(_off_scale(s, x_axis, 9 * (k % 6)) for k, s in enumerate(plot.series)),
        _key(plot.series),
    ]
    return _document(plot.title, "".join(body))


def as_img(svg: str, alt: str, css_class: str) -> str:
    """Embed an SVG document as an ``<img>`` data URI (survives HTML sanitisers)."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (
        f'<img class="{css_class}" alt="{html.escape(alt)}" width="{WIDTH}" height="{HEIGHT}" '
        f'src="data:image/svg+xml;base64,{data}">'
    )


def step_curve_plot(curve: dict[str, Any], tolerance: float | None) -> Plot:
    """The V curve: relative error against step size for the worst element, log-log."""
    levels = [(tolerance, "tolerance")] if tolerance else []
    return Plot(
        title=f"{curve['block']} element {curve['index']}: error vs step size",
        x_label="step h",
        y_label="rel. error",
        series=[Series("|numeric − analytic|", curve["steps"], curve["rel_errors"], PALETTE[0])],
        marks=[(curve["chosen_step"], "chosen h")],
        levels=levels,
    )


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


def _non_finite_steps(per_step: list[dict[str, Any]], name: str) -> list[float]:
    """Steps where ``name`` diverged but its difference is null: NaN or infinite."""
    return [s["step"] for s in per_step
            if name in s["diverged"] and s["by_variable"].get(name) is None]


@dataclass
class _Axis:
    low: float
    high: float
    log: bool
    start: float
    end: float

    @classmethod
    def fit(cls, values: list[float], log: bool, start: float, end: float) -> _Axis:
        mapped = [math.log10(v) if log else v for v in values]
        low, high = min(mapped), max(mapped)
        if log:
            low, high = math.floor(low), math.ceil(high)
        if high - low < 1e-12:
            low, high = low - 1, high + 1
        return cls(low, high, log, start, end)

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.start + (v - self.low) / (self.high - self.low) * (self.end - self.start)

    def ticks(self) -> list[tuple[float, str]]:
        if self.log:
            stride = max(1, math.ceil((self.high - self.low) / 6))
            return [(10.0**e, f"1e{e}") for e in range(int(self.low), int(self.high) + 1, stride)]
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
    return y is not None and y > 0 and (not plot.x_log or x > 0)


def _frame(plot: Plot, x_axis: _Axis, y_axis: _Axis) -> str:
    parts = [
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" '
        f'height="{HEIGHT - TOP - BOTTOM}" fill="#ffffff" stroke="#888888"/>'
    ]
    for value, label in x_axis.ticks():
        x = x_axis(value)
        parts.append(f'<line x1="{x:.1f}" y1="{HEIGHT - BOTTOM}" x2="{x:.1f}" '
                     f'y2="{HEIGHT - BOTTOM + 4}" stroke="#888888"/>')
        parts.append(_text(x, HEIGHT - BOTTOM + 15, label, anchor="middle"))
    for value, label in y_axis.ticks():
        y = y_axis(value)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     'stroke="#eeeeee"/>')
        parts.append(_text(LEFT - 4, y + 3, label, anchor="end"))
    parts.append(_text(LEFT + (WIDTH - LEFT - RIGHT) / 2, HEIGHT - 6, plot.x_label, "middle"))
    parts.append(_text(8, TOP - 8, plot.y_label))
    parts.append(_text(LEFT, 14, plot.title, weight="bold"))
    return "".join(parts)


def _line(series: Series, plot: Plot, x_axis: _Axis, y_axis: _Axis) -> str:
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    segments: list[list[tuple[float, float]]] = [[]]
    dots = []
    for x, y in zip(series.xs, series.ys, strict=True):
        if y is None or not _usable(x, y, plot):
            segments.append([])
            continue
        px, py = x_axis(x), y_axis(y)
        segments[-1].append((px, py))
        tip = html.escape(f"{series.name}: {fmt.num(x, 1) if plot.x_log else x} → {fmt.num(y)}")
        dots.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{series.colour}">'
                    f"<title>{tip}</title></circle>")
    lines = "".join(
        f'<polyline fill="none" stroke="{series.colour}" stroke-width="1.6"{dash} points="'
        + " ".join(f"{px:.1f},{py:.1f}" for px, py in segment) + '"/>'
        for segment in segments if len(segment) > 1
    )
    return lines + "".join(dots)


def _off_scale(series: Series, x_axis: _Axis, lift: int) -> str:
    """A downward triangle along the top of the plot for each non-finite value, a row per series."""
    return "".join(
        f'<path d="M {x_axis(x) - 4:.1f} {TOP + 2 + lift} h 8 l -4 7 z" fill="{series.colour}" '
        f'stroke="#000000" stroke-width="0.5"><title>'
        f"{html.escape(f'{series.name}: step {x:g} → non-finite difference (NaN/Inf)')}"
        "</title></path>"
        for x in series.off_scale
    )


def _mark(x_axis: _Axis, value: float, label: str) -> str:
    x = x_axis(value)
    return (f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" stroke="#000000" '
            f'stroke-dasharray="3 3"><title>{html.escape(label)}</title></line>'
            + _text(x + 3, TOP + 10, label))


def _level(y_axis: _Axis, value: float, label: str) -> str:
    y = y_axis(value)
    return (f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#d62728" '
            f'stroke-dasharray="6 3"/>' + _text(WIDTH - RIGHT - 2, y - 3, label, anchor="end"))


def _key(series: list[Series]) -> str:
    rows = []
    if any(s.off_scale for s in series):
        rows.append(_text(WIDTH - RIGHT + 8, HEIGHT - BOTTOM, "▼ = NaN/Inf"))
    for k, s in enumerate(series[:12]):
        y = TOP + 10 + 14 * k
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        rows.append(f'<line x1="{WIDTH - RIGHT + 8}" y1="{y - 3}" x2="{WIDTH - RIGHT + 24}" '
                    f'y2="{y - 3}" stroke="{s.colour}" stroke-width="2"{dash}/>'
                    + _text(WIDTH - RIGHT + 28, y, s.name))
    return "".join(rows)


def _text(x: float, y: float, text: str, anchor: str = "start", weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="10" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="#333333">{html.escape(text)}</text>')


def _empty(plot: Plot) -> str:
    note = _text(WIDTH / 2, HEIGHT / 2, "no non-zero differences to plot", anchor="middle")
    return _document(plot.title, _text(LEFT, 14, plot.title, weight="bold") + note)


def _document(title: str, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">'
        f"<title>{html.escape(title)}</title>{body}</svg>"
    )
