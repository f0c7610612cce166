"""``--widget`` and progress in a real kernel, then the notebook saved as JupyterLab saves it.

A notebook with real checks (one long enough to show progress, one with
``--widget``) is executed by nbclient, its widget state dropped as
JupyterLab's default save does, and then:

* exported with nbconvert: every report readable, no raw widget repr
  (``GradcheckWidget(children=…``, ``IntProgress(…``), no progress left;
* reopened in a real JupyterLab with no kernel (browser tests): no "model
  not found", no raw repr, every report's headline on the page.

Live, in a running kernel, the same output shows the widget (once) and, after
a kernel restart, the report (labextension/src/widgetview.ts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from nbgrad.report.base import MIME_TYPE

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

SETUP = """\
%load_ext nbgrad
import time
import numpy as np
w = np.array([1.0, -2.0, 3.0])
A = np.diag([1.0, 2.0, 3.0])
W = np.arange(12.0).reshape(3, 4) / 10

def slow_cost(W):  # long enough for the progress display to appear (min 1 s)
    time.sleep(0.02)
    return float((W ** 2).sum()), 2 * W[:, ::-1]"""

CELLS = [
    SETUP,
    "%gradcheck (w @ A @ w / 2, A @ w) --wrt w --widget",
    "%%determinism --widget\ntotal = 0.0\nfor i in range(3):\n    total += i * 0.5",
    "%gradcheck slow_cost(W) --wrt W",
    "%gradcheck (w @ A @ w / 2, A @ w) --wrt w",
]
WIDGET_CELLS, PROGRESS_CELL, PLAIN_CELL = (1, 2), 3, 4


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The executed notebook as JupyterLab saves it by default: outputs kept, no widget state."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    assert WIDGET_STATE in notebook.metadata["widgets"], "nbclient saved the live state"
    del notebook.metadata["widgets"]
    path = tmp_path_factory.mktemp("saved") / "checks.ipynb"
    nbformat.write(notebook, path)
    return path


def _outputs(path: Path) -> list[list[dict[str, Any]]]:
    return [cell.outputs for cell in nbformat.read(path, as_version=4).cells]


@pytest.mark.kernel
def test_widget_report_is_one_output_carrying_the_static_report(saved: Path) -> None:
    outputs = _outputs(saved)
    for index in WIDGET_CELLS:
        assert len(outputs[index]) == 1, "shown once: the widget and the report are one output"
        data = outputs[index][0]["data"]
        assert {WIDGET_VIEW, "text/html", "text/plain", MIME_TYPE} <= set(data)
        assert 'class="nbgrad-report' in data["text/html"]
        assert not data["text/plain"].startswith(("GradcheckWidget(", "DeterminismWidget("))
    assert WIDGET_VIEW not in outputs[PLAIN_CELL][0]["data"]


@pytest.mark.kernel
def test_progress_leaves_no_widget_and_no_text_behind(saved: Path) -> None:
    progress, result = _outputs(saved)[PROGRESS_CELL]
    assert progress["output_type"] == "display_data" and progress["data"] == {}
    assert result["output_type"] == "execute_result" and MIME_TYPE in result["data"]


@pytest.mark.kernel
def test_export_shows_every_report_and_nothing_dead(saved: Path) -> None:
    body, _ = HTMLExporter().from_filename(str(saved))
    for text in ("GradcheckWidget(", "DeterminismWidget(", "IntProgress(", "HBox(children",
                 "model not found", "evaluations ("):
        assert text not in body, text
    reports = [o["data"][MIME_TYPE] for outs in _outputs(saved) for o in outs
               if MIME_TYPE in o.get("data", {})]
    assert len(reports) == 4
    for report in reports:
        assert _escaped(report["headline"]) in body
    assert body.count('class="nbgrad-report') == 4


def _escaped(text: str) -> str:
    import html

    return html.escape(text, quote=False)


def test_outside_a_kernel_widget_returns_the_report_without_a_view(
    shell: InteractiveShell, run_cell: Callable[[str], Any]
) -> None:
    """Plain IPython has no comm: --widget still returns the report, with its static bundle."""
    run_cell("w = np.array([1.0, -2.0, 3.0])\nA = np.diag([1.0, 2.0, 3.0])")
    report = run_cell("%gradcheck (w @ A @ w / 2, A @ w) --wrt w --widget")
    assert report.passed
    bundle = report._repr_mimebundle_()
    assert WIDGET_VIEW not in bundle and {"text/html", MIME_TYPE} <= set(bundle)


# -- reopened in JupyterLab ------------------------------------------------------------


@pytest.fixture(scope="module")
def reopened(saved: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One JupyterLab, no kernel, serving the saved notebook twice: unsigned and signed."""
    from test_browser_theme import running_lab

    # Signatures are content hashes: the copy from "someone else" differs by one field.
    shared = nbformat.read(saved, as_version=4)
    shared.metadata["title"] = "from a colleague"
    notebooks = {"from-someone-else.ipynb": (shared, False),
                 "own-saved.ipynb": (nbformat.read(saved, as_version=4), True)}
    with running_lab(tmp_path_factory.mktemp("reopened"), notebooks) as (url, _):
        yield url


@pytest.mark.browser
@pytest.mark.kernel
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["from-someone-else", "own-saved"])
def test_reopened_without_a_kernel_every_report_reads(
    saved: Path, reopened: str, name: str
) -> None:
    from test_browser_theme import NOTEBOOK, browser

    headlines = [o["data"][MIME_TYPE]["headline"] for outs in _outputs(saved) for o in outs
                 if MIME_TYPE in o.get("data", {})]
    with browser() as page:
        page.goto(f"{reopened}/lab/tree/{name}.ipynb")
        page.locator(f"{NOTEBOOK} .jp-Cell").nth(len(CELLS) - 1).wait_for()
        page.wait_for_timeout(3000)  # give the widget manager its chance to give up
        text = page.locator(f"{NOTEBOOK} .jp-Notebook").inner_text()
        assert "model not found" not in text and "Error displaying widget" not in text
        assert not re.search(r"(Gradcheck|Determinism)Widget\(|IntProgress\(", text)
        for headline in headlines:
            assert headline[:60] in text, headline


@pytest.mark.browser
@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_live_widget_shows_once_and_gives_way_to_the_report_on_restart(tmp_path: Path) -> None:
    from test_browser_theme import NOTEBOOK, browser, running_lab
    from test_labextension_e2e import _menu, _wait_for_kernel, _with_python_kernel

    notebook = _with_python_kernel(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in CELLS[:PROGRESS_CELL]]))
    with running_lab(tmp_path, {"live.ipynb": (notebook, True)}, kernels=True) as (url, _), \
            browser() as page:
        page.goto(f"{url}/lab/tree/live.ipynb")
        _wait_for_kernel(url)
        _menu(page, "Run", "runmenu:run-all")
        cells = [page.locator(f"{NOTEBOOK} .jp-Cell").nth(index) for index in WIDGET_CELLS]
        _assert_widget_once(page, cells)
        _menu(page, "File", "docmanager:save")  # as JupyterLab saves: no widget state
        page.locator(".lm-TabBar-tab.jp-mod-dirty").wait_for(state="detached")
        page.reload()  # the kernel still holds the models: the widget again, not the report
        _wait_for_kernel(url)
        _assert_widget_once(page, cells)

        _menu(page, "Kernel", "kernelmenu:restart")
        page.locator(".jp-Dialog .jp-mod-accept").click()
        for cell in cells:
            cell.locator(".nbgrad-Report-headline").first.wait_for(state="visible")
            assert cell.locator(".widget-dropdown:visible").count() == 0
            assert "model not found" not in cell.inner_text()


def _assert_widget_once(page: Page, cells: list[Locator]) -> None:
    for cell in cells:
        cell.locator(".jupyter-widgets .widget-dropdown").wait_for(timeout=90_000)
    page.wait_for_timeout(1500)  # past the renderer's grace period: nothing else turns up
    for cell in cells:
        assert cell.locator(".jp-OutputArea-output").count() == 1
        assert cell.locator(".widget-dropdown:visible").count() == 1, "the widget, once"
        assert cell.locator(".nbgrad-Report:visible").count() == 0, "not the report too"
