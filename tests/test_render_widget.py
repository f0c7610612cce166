"""The live widget and the MIME bundle, driven from Python as a front end would drive them."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from test_render_text import FixtureReport

from nbgrad.report import fmt
from nbgrad.report.base import MIME_TYPE
from nbgrad.report.bundle import WIDGET_MIME_TYPE, mimebundle, use_live_widgets
from nbgrad.report.html import SORT_KEYS, render_html
from nbgrad.report.text import render_text
from nbgrad.report.widget import ALL_VARIABLES, report_widget

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "reports").glob("*.json"))


def load(name: str) -> dict:
    return json.loads((FIXTURES[0].parent / f"{name}.json").read_text())


def failing_cells(markup: str) -> int:
    return markup.count('class="nbgrad-fail"')


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_every_fixture_builds_a_widget(path: Path) -> None:
    report = json.loads(path.read_text())
    widget = report_widget(report)
    shown = "".join(child.value for child in widget.children if hasattr(child, "value"))
    assert 'class="nbgrad-headline"' in shown and html.escape(report["headline"]) in shown
    if report["kind"] == "gradcheck":
        assert widget.block_selector.options == tuple(b["name"] for b in report["blocks"])
        assert "nbgrad-heatmap" in widget.heatmap_view.value
    else:
        has_plot = "Divergence per step" in widget.plot_view.value
        assert has_plot == bool(report["per_step"])


def test_block_selector_swaps_heatmap_and_worst_elements() -> None:
    report = load("gradcheck_seed003_regularisation")
    widget = report_widget(FixtureReport(report))
    assert widget.block_selector.value == "Theta2", "opens on the first failing block"
    for block in report["blocks"]:
        widget.block_selector.value = block["name"]
        heatmap = widget.heatmap_view.value
        assert f"{block['name']} ({fmt.shape(block['shape'])})" in heatmap
        expected = sum(v is not None and v > block["tolerance"]
                       for row in block["heatmap"]["values"] for v in row)
        assert failing_cells(heatmap) == expected
        shown = re.findall(r"<code>([^<]*)</code>", widget.worst_view.value)
        assert all(name.startswith(block["name"] + "[") for name in shown)


def test_sort_selector_reorders_the_worst_elements() -> None:
    report = load("gradcheck_pass")
    widget = report_widget(report)
    block = next(b for b in report["blocks"] if b["name"] == widget.block_selector.value)
    orders = {}
    for sort in SORT_KEYS:
        widget.sort_selector.value = sort
        orders[sort] = re.findall(r"<code>([^<]*)</code>", widget.worst_view.value)
    by_position = sorted(block["worst"], key=lambda item: item["index"])
    assert orders["position"] == [fmt.element(block["name"], i["multi_index"])
                                  for i in by_position]
    by_error = sorted(block["worst"], key=lambda item: -item["rel_error"])
    assert orders["rel. error"] == [fmt.element(block["name"], i["multi_index"])
                                    for i in by_error]
    assert orders["position"] != orders["rel. error"]


def test_variable_selector_redraws_the_divergence_plot_with_hover_titles() -> None:
    report = load("determinism_uninitialized_memory")
    widget = report_widget(report)
    assert widget.variable_selector.options == (ALL_VARIABLES, *report["tracked"])
    everything = widget.plot_view.value
    # Two plots, each a line per variable: share of elements differing, and max |Δ|.
    diverging = [v for v in report["variables"] if v["first_step"] is not None]
    assert everything.count("<polyline") == len(diverging) + len(report["tracked"])
    widget.variable_selector.value = "W"
    only_w = widget.plot_view.value
    assert only_w.count("<polyline") == 2
    assert ">W</text>" in only_w and ">loss</text>" not in only_w
    step0 = report["per_step"][0]["by_variable"]["W"]
    assert f"<title>W: 0 → {fmt.num(step0)}</title>" in only_w


@pytest.mark.parametrize("name", ["gradcheck_taylor", "gradcheck_seed003_regularisation"])
def test_block_selector_moves_every_plot_to_the_selected_block(name: str) -> None:
    report = load(name)
    widget = report_widget(report)
    curve_block = report["step_curve"]["block"]
    for block in report["blocks"]:
        widget.block_selector.value = block["name"]
        plots = widget.curves_view.value
        assert f"{block['name']}: analytic vs numeric" in plots
        others = [b["name"] for b in report["blocks"] if b["name"] != block["name"]]
        assert not any(f"{name}: analytic vs numeric" in plots for name in others)
        if block.get("taylor"):
            assert f"{block['name']}: order " in plots
        assert ("relative error vs step h" in plots) == (block["name"] == curve_block)


def test_bundle_is_static_first_and_carries_the_json() -> None:
    report = load("gradcheck_flat")
    bundle = mimebundle(report)
    assert bundle["text/plain"] == render_text(report)
    assert bundle["text/html"] == render_html(report)
    assert bundle[MIME_TYPE] is report
    assert WIDGET_MIME_TYPE not in bundle


def test_live_widget_is_never_offered_outside_a_kernel() -> None:
    use_live_widgets(True)
    try:
        assert WIDGET_MIME_TYPE not in mimebundle(load("gradcheck_flat"))
    finally:
        use_live_widgets(False)


def test_widget_escapes_user_strings() -> None:
    report = load("gradcheck_mismatch")
    hostile = "<img src=x onerror=alert(1)>"
    report["blocks"][0]["name"] = hostile
    widget = report_widget(report)
    assert widget.block_selector.value == hostile
    shown = widget.heatmap_view.value + widget.worst_view.value
    assert hostile not in shown and html.escape(hostile) in shown
