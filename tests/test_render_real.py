"""Real reports from the checker engines: valid per the schema and rendered in every medium."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

import nbgrad
from nbgrad.report.bundle import mimebundle
from nbgrad.report.schema import report_problems
from nbgrad.report.widget import report_widget

LAMBDA, M = 3.0, 5


def regularised_cost(params: dict) -> tuple[float, dict]:
    """Seed 003's bug: the regularisation gradient of Theta2 keeps the bias column."""
    t1, t2 = params["Theta1"], params["Theta2"]
    cost = np.sum(np.sin(t1)) + np.sum(t2**3) + LAMBDA / (2 * M) * (
        np.sum(t1[:, 1:] ** 2) + np.sum(t2[:, 1:] ** 2))
    g1 = np.cos(t1)
    g1[:, 1:] += LAMBDA / M * t1[:, 1:]
    g2 = 3 * t2**2 + LAMBDA / M * t2
    return cost, {"Theta1": g1, "Theta2": g2}


UNINITIALISED = """
total = np.empty(4)
for step in range(3):
    total += np.ones(4)
    loss = float(total.sum())
"""


@pytest.fixture(scope="module")
def gradient_report() -> dict:
    rng = np.random.default_rng(0)
    params = {"Theta1": rng.standard_normal((5, 4)) * 0.1,
              "Theta2": rng.standard_normal((3, 6)) * 0.1}
    return nbgrad.gradcheck(regularised_cost, params).to_dict()


@pytest.fixture(scope="module")
def determinism_report() -> dict:
    return nbgrad.check_determinism(UNINITIALISED, {"np": np}, runs=3).to_dict()


def test_real_reports_follow_the_schema(gradient_report: dict, determinism_report: dict) -> None:
    assert report_problems(gradient_report) == []
    assert report_problems(determinism_report) == []


def test_real_gradient_report_marks_theta2_bias_column(gradient_report: dict) -> None:
    bundle = mimebundle(gradient_report)
    theta2 = next(b for b in gradient_report["blocks"] if b["name"] == "Theta2")
    assert theta2["flagged"] == [0, 6, 12]
    page = bundle["text/html"]
    heatmap = page.split("Theta2 (3×6)")[1].split("</table>")[0]
    rows = re.split(r"<tr[ >]", heatmap)[2:]
    assert [row.count('class="nbgrad-fail"') for row in rows] == [1, 1, 1]
    # The first cell after the row label is the failing one: the bias column.
    assert all(row.split("<td ")[2].find('class="nbgrad-fail"') >= 0 for row in rows)
    assert html.escape(gradient_report["headline"]) in page
    assert gradient_report["headline"] in bundle["text/plain"]
    widget = report_widget(gradient_report)
    assert widget.block_selector.value == "Theta2"


def test_real_determinism_report_highlights_the_reading_line(determinism_report: dict) -> None:
    divergence = determinism_report["first_divergence"]
    assert divergence["cause"] == "uninitialized_memory"
    page = mimebundle(determinism_report)["text/html"]
    highlighted = page.split('class="nbgrad-divergent-line"')[1].split("</span>")[0]
    text = next(c["text"] for c in divergence["context"] if c["line"] == divergence["line"])
    assert highlighted.endswith(f"{divergence['line']:>5} | {html.escape(text)}")
    assert text.strip() == divergence["source"].strip()
    assert "np.empty" in page
    widget = report_widget(determinism_report)
    # The first variable seen to diverge step by step (an np.empty array whose
    # NaN poison survives `+=` is masked as never written in the per-step table;
    # its dependants carry the divergence).
    name = next(s["diverged"][0] for s in determinism_report["per_step"] if s["diverged"])
    widget.variable_selector.value = name
    plot = widget.plot_view.value
    assert "nbgrad-fraction-plot" in plot  # the share of elements that differ: always finite
    diverged = [s for s in determinism_report["per_step"] if name in s["diverged"]]
    non_finite = [s for s in diverged if s["by_variable"][name] is None]
    if len(non_finite) == len(diverged):  # NaN poison throughout: said in words, no axis
        assert "nbgrad-divergence-plot" not in plot
        assert "Every difference between the runs is NaN or infinite" in plot
    else:
        assert plot.count("non-finite difference (NaN/Inf)") == len(non_finite)
