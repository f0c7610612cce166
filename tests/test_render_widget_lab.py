"""The live widget in a real JupyterLab 4 and Chromium: selectors change what the page shows.

The JupyterLab server fixture is the one of ``test_labextension_e2e`` (same
isolated settings); this module only uploads its own notebook through the
contents API, runs it, and drives the widget's controls.
"""

from __future__ import annotations

import http.cookiejar
import json
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.timeout(240)]

if not Path("/usr/bin/chromium").exists():
    pytest.skip("needs Debian's /usr/bin/chromium", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402
from test_cli import SETUP  # noqa: E402
from test_labextension_e2e import (  # noqa: E402  (lab and browser are module fixtures)
    _menu,
    _new_page,
    _wait_for_kernel,
    _with_python_kernel,
)
from test_labextension_e2e import browser as browser  # noqa: E402
from test_labextension_e2e import lab as lab  # noqa: E402

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WIDGET_CELL = """\
from nbgrad.report.widget import report_widget
report_widget(FixtureReport("gradcheck_seed003_regularisation"))"""
DETERMINISM_CELL = 'report_widget(FixtureReport("determinism_uninitialized_memory"))'


def _upload(lab_url: str, name: str) -> None:
    notebook = _with_python_kernel(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(WIDGET_CELL),
        nbformat.v4.new_code_cell(DETERMINISM_CELL)]))
    body = json.dumps({"type": "notebook", "format": "json", "content": notebook}).encode()
    cookies = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    opener.open(f"{lab_url}/lab", timeout=10).close()  # sets the _xsrf cookie
    xsrf = next(cookie.value for cookie in cookies if cookie.name == "_xsrf")
    request = urllib.request.Request(
        f"{lab_url}/api/contents/{name}", data=body, method="PUT",
        headers={"Content-Type": "application/json", "X-XSRFToken": xsrf},
    )
    with opener.open(request, timeout=10) as response:
        assert response.status in (200, 201)


@pytest.fixture(scope="module")
def widgets(browser, lab):
    """The notebook uploaded, opened and run: the outputs that hold a widget."""
    page = _new_page(browser)
    _upload(lab.url, "widget.ipynb")
    page.goto(f"{lab.url}/lab/tree/widget.ipynb")
    _wait_for_kernel(lab.url)
    _menu(page, "Run", "runmenu:run-all")
    outputs = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-dropdown"))
    expect(outputs).to_have_count(2, timeout=90_000)
    return outputs


def test_widget_selectors_swap_heatmap_and_sort_in_jupyterlab(widgets) -> None:
    output = widgets.nth(0)
    heatmap = output.locator(".nbgrad-heatmap")
    expect(heatmap).to_have_count(1)
    expect(output).to_contain_text("Theta2 (3×6): 3 of 18 wrong")
    expect(heatmap.locator("td.nbgrad-fail")).to_have_count(3)
    assert heatmap.locator("td.nbgrad-fail").first.get_attribute("title").startswith(
        "Theta2[0, 0] ")
    ARTIFACTS.mkdir(exist_ok=True)
    output.screenshot(path=str(ARTIFACTS / "widget-lab-theta2.png"))

    output.locator(".widget-dropdown select").select_option("Theta1")
    expect(output).to_contain_text("Theta1 (5×4): 0 of 20 wrong")
    expect(heatmap.locator("td.nbgrad-fail")).to_have_count(0)
    # Runs of one shade are merged: the cells' spans still add up to the block's 20.
    spans = heatmap.locator("td[bgcolor]").evaluate_all("cells => cells.map(c => c.colSpan)")
    assert sum(spans) == 20

    worst = output.locator(".nbgrad-worst code")
    by_error = worst.all_inner_texts()
    output.locator(".widget-toggle-button", has_text="position").click()
    expect(worst.first).to_have_text("Theta1[0, 0]")
    by_position = worst.all_inner_texts()
    assert sorted(by_position) == sorted(by_error) and by_position != by_error
    output.screenshot(path=str(ARTIFACTS / "widget-lab-theta1.png"))


def test_determinism_widget_redraws_the_inline_plot_per_variable(widgets) -> None:
    output = widgets.nth(1)
    plot = output.locator(".nbgrad-divergence-plot svg")
    expect(plot.locator("polyline")).to_have_count(3)
    output.locator(".widget-dropdown select").select_option("W")
    expect(plot.locator("polyline")).to_have_count(1)
    titles = plot.locator("circle title").all_text_contents()
    assert titles[0] == "W: 0 → 6.00e-07" and len(titles) == 6
    output.screenshot(path=str(ARTIFACTS / "widget-lab-determinism.png"))
