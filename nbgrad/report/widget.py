"""The live, interactive report: core ipywidgets 8 composed around the static HTML pieces.

Why core ipywidgets and not anywidget: a composite of ``HTML``, ``Dropdown``
and ``ToggleButtons`` needs no front-end code of ours at all; the widget
manager that JupyterLab 4, Notebook 7 and VS Code already ship renders it.
anywidget would mean shipping and versioning an ES module for what core
controls already do.  The HTML inside the ``HTML`` widgets is the same markup
as the static report (:mod:`nbgrad.report.html`), except that plots are
inline SVG here (ipywidgets sets ``innerHTML`` unsanitised), so each point's
``<title>`` shows its value on hover.

The widget is built from the report dictionary alone, so it works on a report
loaded from a saved notebook's JSON as well as on a fresh one.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from nbgrad.report import fmt
from nbgrad.report import html as static
from nbgrad.report.heatmap import legend, render_heatmap

ALL_VARIABLES = "all tracked variables"


def report_widget(report: Any) -> widgets.VBox:
    """Return the interactive view of a report object or of its dictionary.

    ``report_widget(report)`` as a cell's last line shows it as its own output,
    next to the static one (see :mod:`nbgrad.report.bundle` for why the widget
    is not in the report's own bundle by default).
    """
    if hasattr(report, "to_dict"):
        report = report.to_dict()
    return _build(report)


@fmt.renderer
def _build(report: dict[str, Any]) -> widgets.VBox:
    if report["kind"] == "gradcheck":
        return GradcheckWidget(report)
    return DeterminismWidget(report)


class GradcheckWidget(widgets.VBox):
    """Header, block table; a block selector that swaps heatmap, worst elements and the plots
    (scatter, Taylor test, step curve when it was scanned in that block); a sort."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        names = [block["name"] for block in report["blocks"]]
        self.block_selector = widgets.Dropdown(
            options=names, value=_first_failing(report) if names else None, description="block"
        )
        self.sort_selector = widgets.ToggleButtons(
            options=list(static.SORT_KEYS), value="rel. error", description="sort by",
            style={"button_width": "auto"},
        )
        self.heatmap_view = widgets.HTML()
        self.worst_view = widgets.HTML()
        self.curves_view = widgets.HTML()
        summary = static.header(report) + static.findings(report) + static.block_table(
            report["blocks"], report["mode"]
        )
        super().__init__(
            [
                widgets.HTML(static.wrap(report, summary)),
                widgets.HBox([self.block_selector, self.sort_selector]),
                self.heatmap_view,
                self.worst_view,
                self.curves_view,
            ]
        )
        self.block_selector.observe(self._refresh, names="value")
        self.sort_selector.observe(self._refresh, names="value")
        self._refresh()

    def selected_block(self) -> dict[str, Any] | None:
        return next(
            (b for b in self.report["blocks"] if b["name"] == self.block_selector.value), None
        )

    def _refresh(self, _change: Any = None) -> None:
        block = self.selected_block()
        if block is None:
            self.heatmap_view.value = self.worst_view.value = ""
            return
        self.heatmap_view.value = static.wrap(
            self.report, legend(block["tolerance"]) + render_heatmap(block)
        )
        self.worst_view.value = static.wrap(
            self.report, static.worst_elements([block], self.sort_selector.value, compact=False)
        )
        self.curves_view.value = static.wrap(self.report, self._curves(block))

    def _curves(self, block: dict[str, Any]) -> str:
        """The selected block's plots; the step curve exists for one element of one block."""
        plots = (static.scatters([block], inline=True, passing=True)
                 + static.taylor_test(self.report, inline=True, blocks=[block["name"]]))
        curve = self.report.get("step_curve")
        if curve is None:
            return plots
        if curve["block"] == block["name"]:
            return plots + static.step_curve(self.report, inline=True)
        return plots + (f'<p style="{static.NOTE_STYLE}">The step-size curve was scanned for '
                        f"the worst element, in block <code>{html.escape(curve['block'])}</code>"
                        ": select it to see the curve.</p>")


class DeterminismWidget(widgets.VBox):
    """Header and verdict; a variable selector that redraws the divergence plot."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        self.variable_selector = widgets.Dropdown(
            options=[ALL_VARIABLES, *report["tracked"]], value=ALL_VARIABLES,
            description="variable",
        )
        self.plot_view = widgets.HTML()
        before = (
            static.header(report)
            + static.error_section(report.get("error"))
            + static.divergence_section(report.get("first_divergence"), report["headline"])
            + static.variable_table(report)
        )
        after = (
            static.step_table(report)
            + static.experiments(report["experiments"])
            + static.comparison(report.get("comparison"))
        )
        super().__init__(
            [
                widgets.HTML(static.wrap(report, before)),
                self.variable_selector,
                self.plot_view,
                widgets.HTML(static.wrap(report, after)),
            ]
        )
        self.variable_selector.observe(self._refresh, names="value")
        self._refresh()

    def _refresh(self, _change: Any = None) -> None:
        choice = self.variable_selector.value
        variables = None if choice == ALL_VARIABLES else [choice]
        self.plot_view.value = static.wrap(
            self.report, static.fraction_plot(self.report, variables, inline=True)
            + static.divergence_plot(self.report, variables, inline=True)
        )


def _first_failing(report: dict[str, Any]) -> str:
    """Open on the block the user most needs to see: the first failing one."""
    blocks = report["blocks"]
    return next((b["name"] for b in blocks if not b["passed"]), blocks[0]["name"])
