"""Every fixture report inside a real JupyterLab, light and dark theme: WCAG AA contrast.

One notebook holds each report of ``tests/fixtures/reports`` twice: as the full
bundle nbgrad displays (text, static HTML and the JSON, so JupyterLab shows
nbgrad's own renderer with the static HTML folded under it, here unfolded),
and as its static HTML alone (a JupyterLab without the extension, nbviewer's
view).  It is opened twice: unsigned, as a notebook from someone else (the
HTML goes through JupyterLab's sanitiser, which drops the theme variables) and
signed, as one the user saved (the HTML is used as is, variables and all).
For every text node of nbgrad's output the test takes the computed colour and
the effective background (the element's and its ancestors' backgrounds
composited, alpha included) and asserts a contrast ratio of at least 4.5 : 1.
Screenshots of the light and the dark page are kept in ``test-artifacts/``;
with ``NBGRAD_UPDATE_DOCS=1`` they become the README's ``docs/report-*.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbformat.sign import NotebookNotary
from test_labextension_e2e import CHROMIUM, CHROMIUM_ARGS, _serve, _with_python_kernel

from nbgrad.report.bundle import mimebundle
from nbgrad.report.html import render_html

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

from playwright.sync_api import Page, sync_playwright  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
FIXTURES = sorted((REPO / "tests" / "fixtures" / "reports").glob("*.json"))
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
#: The report pictured in the README.
PICTURED = "gradcheck_seed003_regularisation"
AA = 4.5

#: For each visible text node under ``roots``: its text, colour, effective background, ratio.
CONTRAST = """roots => {
  const pen = document.createElement('canvas').getContext('2d', {willReadFrequently: true});
  const parse = c => {  // any CSS colour syntax the browser computes, through a 1-pixel canvas
    pen.clearRect(0, 0, 1, 1);
    pen.fillStyle = c;
    pen.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = pen.getImageData(0, 0, 1, 1).data;
    return [r, g, b, a / 255];
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3]))
    .concat([1]);
  const background = element => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let colour = [255, 255, 255, 1];  // the canvas
    for (let i = layers.length - 1; i >= 0; i--) colour = over(layers[i], colour);
    return colour;
  };
  const channel = v => {
    v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = c => 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2]);
  const found = [];
  for (const root of roots) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      const text = node.textContent.trim();
      const element = node.parentElement;
      const style = getComputedStyle(element);
      if (!text || style.visibility === 'hidden' || element.getClientRects().length === 0) continue;
      const back = background(element);
      const fore = over(parse(style.color), back);
      const [a, b] = [luminance(fore), luminance(back)];
      found.push({text: text.slice(0, 50), tag: element.tagName, colour: style.color,
                  background: `rgb(${back.slice(0, 3).map(Math.round).join(', ')})`,
                  ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)});
    }
  }
  return found;
}"""


def _notebook() -> nbformat.NotebookNode:
    cells = []
    for path in FIXTURES:
        report = json.loads(path.read_text())
        bundle = mimebundle(report)
        cells.append(nbformat.v4.new_code_cell(
            f"# {path.stem}", execution_count=1,
            outputs=[nbformat.v4.new_output("display_data", data=bundle)]))
        cells.append(nbformat.v4.new_code_cell(
            f"# {path.stem}, static HTML only", execution_count=2,
            outputs=[nbformat.v4.new_output("display_data", data={
                "text/html": render_html(report), "text/plain": bundle["text/plain"]})]))
    return _with_python_kernel(nbformat.v4.new_notebook(cells=cells))


def _settings(config: Path, theme: str) -> None:
    """Theme, every cell rendered (no windowing); ``_serve`` already turned the toasts off."""
    root = config / "lab" / "user-settings" / "@jupyterlab"
    for plugin, values in [
        ("apputils-extension/themes", {"theme": theme}),
        ("notebook-extension/tracker", {"windowingMode": "none",
                                        "autoStartDefaultKernel": True}),
    ]:
        path = root / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@contextmanager
def running_lab(folder: Path, notebooks: dict[str, tuple[nbformat.NotebookNode, bool]],
                theme: str = THEMES["light"], kernels: bool = False
                ) -> Iterator[tuple[str, Path]]:
    """JupyterLab (the e2e test's ``_serve``) over ``notebooks`` (name: (notebook, signed)).

    Signed notebooks are trusted as the user's own saved ones are.  Without ``kernels``
    the server allows no kernel spec, so a notebook opens with its saved outputs only,
    as after the kernel is gone.
    """
    root, home = folder / "root", folder / "home"
    (home / "data").mkdir(parents=True)
    root.mkdir()
    notary = NotebookNotary(data_dir=str(home / "data"))  # the server's JUPYTER_DATA_DIR
    for name, (notebook, signed) in notebooks.items():
        if signed:
            notary.sign(notebook)
        nbformat.write(notebook, root / name)
    options = [] if kernels else ["--KernelSpecManager.allowed_kernelspecs=none"]
    with _serve("jupyterlab", root, home, *options) as server:
        _settings(server.config, theme)
        yield server.url, server.config


@contextmanager
def browser() -> Iterator[Page]:
    """Debian's chromium through Playwright, a fresh profile."""
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = chromium.new_context(viewport={"width": 1300, "height": 1000}).new_page()
        page.set_default_timeout(60_000)
        yield page
        chromium.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The fixture reports twice: from someone else (unsigned) and the user's own (signed)."""
    # Signatures are content hashes: the copy from "someone else" differs by one field.
    shared = _notebook()
    shared.metadata["title"] = "from a colleague"
    notebooks = {"shared.ipynb": (shared, False), "saved.ipynb": (_notebook(), True)}
    with running_lab(tmp_path_factory.mktemp("theme"), notebooks) as running:
        yield running


@pytest.fixture(scope="module")
def browser_page(lab: tuple[str, Path]) -> Iterator[Page]:
    with browser() as page:
        yield page


def open_notebook(page: Page, url: str, name: str) -> None:
    # A fresh workspace: only this notebook open, nothing restored from the previous visit.
    page.goto(f"{url}/lab/workspaces/{name.split('.')[0]}{time.monotonic_ns()}/tree/{name}?reset")
    outputs = page.locator(f"{NOTEBOOK} .jp-OutputArea-output")
    outputs.nth(2 * len(FIXTURES) - 1).wait_for(state="attached")
    _dismiss_kernel_dialog(page)
    page.wait_for_function(
        f"document.querySelectorAll('{NOTEBOOK} .nbgrad-report').length >= {2 * len(FIXTURES)}")
    page.evaluate(f"document.querySelectorAll('{NOTEBOOK} .jp-OutputArea details')"
                  ".forEach(d => {{ d.open = true; }})")


def _dismiss_kernel_dialog(page: Page) -> None:
    """No kernel may start (the server allows none): close the kernel dialog if it shows."""
    dialog = page.locator(".jp-Dialog")
    try:
        dialog.wait_for(state="visible", timeout=5_000)
    except PlaywrightTimeout:  # no dialog this time
        return
    buttons = dialog.locator(".jp-Dialog-button")
    buttons.last.click() if buttons.count() else page.keyboard.press("Escape")


@pytest.mark.parametrize("theme", list(THEMES))
@pytest.mark.parametrize("notebook", ["shared.ipynb", "saved.ipynb"])
def test_every_text_of_every_report_has_aa_contrast(
    browser_page: Page, lab: tuple[str, Path], theme: str, notebook: str
) -> None:
    url, config = lab
    _settings(config, THEMES[theme])
    open_notebook(browser_page, url, notebook)
    body = browser_page.locator("body")
    assert body.get_attribute("data-jp-theme-name") == THEMES[theme]
    roots = browser_page.locator(f"{NOTEBOOK} .jp-OutputArea-output:has(.nbgrad-report)")
    assert roots.count() == 2 * len(FIXTURES)
    # Signed: the HTML is used as written, theme variables included; unsigned: sanitised,
    # and the sanitiser drops declarations with var(): both ways must read.  (nbgrad's
    # renderer, the first output, sanitises the HTML it folds in either way.)
    styled = browser_page.locator(f"{NOTEBOOK} .jp-RenderedHTML > .nbgrad-report").first \
        .get_attribute("style")
    assert ("var(--jp-" in (styled or "")) == (notebook == "saved.ipynb")
    texts = roots.evaluate_all(CONTRAST)
    # Every report's words were measured, in both forms, not just a few.
    assert len(texts) > 40 * len(FIXTURES)
    for headline in (json.loads(p.read_text())["headline"] for p in FIXTURES):
        assert any(headline.startswith(t["text"]) for t in texts), headline
    low = [t for t in texts if t["ratio"] < AA]
    assert not low, f"{len(low)} of {len(texts)} text nodes under {AA}:1 " + json.dumps(
        low[:12], ensure_ascii=False, indent=1)
    _screenshot(browser_page, theme, notebook)


def _screenshot(page: Page, theme: str, notebook: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    stem = f"theme-{theme}-{notebook.split('.')[0]}"
    report = page.locator(f"{NOTEBOOK} .jp-Cell", has_text=f"# {PICTURED}, static HTML only"
                          ).locator(".jp-OutputArea-output")
    page.set_viewport_size({"width": 1100, "height": 3200})  # the whole report in view
    report.scroll_into_view_if_needed()
    picture = ARTIFACTS / f"{stem}.png"
    report.screenshot(path=str(picture))
    page.set_viewport_size({"width": 1300, "height": 1000})
    if notebook == "saved.ipynb" and os.environ.get("NBGRAD_UPDATE_DOCS") == "1":
        shutil.copy(picture, REPO / "docs" / f"report-{theme}.png")


WIDGET_CELLS = [
    "%load_ext nbgrad\nimport numpy as np\nW = np.arange(12.0).reshape(3, 4) / 10",
    "%gradcheck (float((W ** 2).sum()), 2 * W[:, ::-1]) --wrt W --widget",
    "%%determinism --widget\nimport numpy as np\nacc = []\nfor step in range(3):\n"
    "    acc.append(float(np.random.rand()))",
]


@pytest.mark.kernel
@pytest.mark.parametrize("theme", list(THEMES))
def test_the_live_widget_has_aa_contrast(browser_page: Page, tmp_path: Path, theme: str) -> None:
    """``--widget`` in a running kernel: the same markup, unsanitised, beside core controls.

    (The module's one browser page: Playwright's sync API runs one instance per thread.)
    """
    page = browser_page
    from test_labextension_e2e import _menu, _wait_for_kernel

    notebook = _with_python_kernel(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in WIDGET_CELLS]))
    with running_lab(tmp_path, {"live.ipynb": (notebook, True)}, THEMES[theme],
                     kernels=True) as (url, _):
        page.goto(f"{url}/lab/tree/live.ipynb")
        _wait_for_kernel(url)
        _menu(page, "Run", "runmenu:run-all")
        # Both reports' widgets drawn (the determinism one has a variable selector).
        page.locator(f"{NOTEBOOK} .jupyter-widgets .widget-dropdown").nth(1).wait_for(
            timeout=90_000)
        page.wait_for_timeout(1000)
        roots = page.locator(f"{NOTEBOOK} .jp-OutputArea-output:has(.nbgrad-report)")
        assert roots.count() == 2  # one output per report: the widget, not widget + static
        texts = roots.evaluate_all(CONTRAST)
        assert len(texts) > 60
        low = [t for t in texts if t["ratio"] < AA]
        assert not low, json.dumps(low[:12], ensure_ascii=False, indent=1)
        ARTIFACTS.mkdir(exist_ok=True)
        roots.first.screenshot(path=str(ARTIFACTS / f"widget-{theme}.png"))
