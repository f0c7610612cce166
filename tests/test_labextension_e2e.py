"""The extension end to end: real JupyterLab and Notebook 7, a real kernel, Debian's chromium.

One notebook with real nbgrad checks (a wrong gradient checked with
``%gradcheck``, an unseeded training loop under ``%%determinism``, a right
gradient, and a report displayed as bare JSON) is run in the browser; the test
then uses the sidebar the way a user would: reads the (long, wrapped) labels
and their tooltips, filters the list, jumps to a cell, copies the failing
indices, follows "line 6 of noisy_step" to the cell that defines it, re-runs a
check after the fix, saves and reloads (the history arrow is kept, in the
notebook's metadata), switches to a second notebook opened from disk (never
executed) and back, deletes a cell and clears the outputs.  In Notebook 7 the
panel opens in the right sidebar by itself once the first report appears.  In
the light and the dark theme every text of the panel and of the renderer has
WCAG AA contrast (measured as tests/test_browser_theme.py measures reports).
The screenshots land in test-artifacts/; docs/panel.png is the README's.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest

import nbgrad
from nbgrad.report import MIME_TYPE

pytestmark = [pytest.mark.browser, pytest.mark.kernel, pytest.mark.timeout(240)]

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("needs Debian's /usr/bin/chromium", allow_module_level=True)

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "test-artifacts" / "panel.png"
NOTEBOOK7_SCREENSHOT = REPO / "test-artifacts" / "panel-notebook7.png"
# The README's picture is refreshed only on request (NBGRAD_UPDATE_DOCS=1), so
# an ordinary test run leaves the working tree clean.
README_SCREENSHOT = REPO / "docs" / "panel.png"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

LOAD = "%load_ext nbgrad"

SETUP = """\
import numpy as np
import nbgrad

def noisy_step(step):
    \"\"\"One training step that forgot to seed its generator.\"\"\"
    noise = np.random.rand(4)
    return float(noise.sum()) + step

BUG = True  # the last cell of the notebook fixes it
W = np.array([[0.5, -1.0, 2.0], [0.3, 1.5, -0.7]])

def two_layer_network_cost_and_gradient(W, regularisation_strength=0.0):
    grad = (2 * W[:, ::-1]) if BUG else 2 * W
    return float((W ** 2).sum()), grad"""

#: A label longer than the panel is wide: it has to wrap, not be cut.
FAILING_LABEL = "two_layer_network_cost_and_gradient(W, regularisation_strength=0.0)"
FAILING = f"%gradcheck {FAILING_LABEL} --wrt W"

#: Set-up first, the training step in the loop: the label is the loop's call.
DIVERGING = """\
%%determinism
losses = []
for step in range(3):
    losses.append(noisy_step(step))"""

PASSING = """\
good = nbgrad.gradcheck(lambda V: (float((V ** 3).sum()), 3 * V ** 2), W.copy(), label='cubic')
good"""

JSON_ONLY = """\
from IPython.display import display
display({"application/vnd.nbgrad.report+json": good.to_dict()}, raw=True)"""

FIX = "BUG = False"

#: Cell index in the notebook of each code cell that shows a report, and of the set-up.
SETUP_CELL, FAILING_CELL, DIVERGING_CELL, PASSING_CELL, JSON_ONLY_CELL, FIX_CELL = 2, 3, 4, 5, 7, 8


def _notebook() -> nbformat.NotebookNode:
    filler = "\n\n".join(f"Notes on the model, paragraph {i}." for i in range(40))
    cells = [
        nbformat.v4.new_markdown_cell("# nbgrad panel"),
        nbformat.v4.new_code_cell(LOAD),
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(FAILING),
        nbformat.v4.new_code_cell(DIVERGING),
        nbformat.v4.new_code_cell(PASSING),
        nbformat.v4.new_markdown_cell(filler),
        nbformat.v4.new_code_cell(JSON_ONLY),
        nbformat.v4.new_code_cell(FIX),
    ]
    return _with_python_kernel(nbformat.v4.new_notebook(cells=cells))


def _notebook7() -> nbformat.NotebookNode:
    cells = [nbformat.v4.new_code_cell(source) for source in (LOAD, SETUP, FAILING, DIVERGING)]
    return _with_python_kernel(nbformat.v4.new_notebook(cells=cells))


def _saved_notebook() -> nbformat.NotebookNode:
    """A notebook as it lands on disk from someone else: outputs saved, never run here."""
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    report = nbgrad.gradcheck(lambda V: (float((V**2).sum()), V), W, label="shared layer")
    cell = nbformat.v4.new_code_cell(
        "nbgrad.gradcheck(f, W)",
        execution_count=7,
        outputs=[
            nbformat.v4.new_output(
                "display_data", data={MIME_TYPE: report.to_dict(), "text/plain": "report"}
            )
        ],
    )
    return _with_python_kernel(nbformat.v4.new_notebook(cells=[cell]))


#: Saved reports of every look (fixtures), for the theme test: both kinds, every status.
THEMED_FIXTURES = [
    "gradcheck_mismatch", "gradcheck_pass", "determinism_uninitialized_memory",
    "determinism_unseeded_rng", "determinism_deterministic",
]


def _themed_notebook() -> nbformat.NotebookNode:
    """The fixtures' JSON as saved outputs, and a history saved elsewhere in the metadata."""
    cells = []
    for n, name in enumerate(THEMED_FIXTURES):
        report = json.loads((REPO / "tests" / "fixtures" / "reports" / f"{name}.json").read_text())
        cell = nbformat.v4.new_code_cell(f"# {name}", execution_count=n + 1, outputs=[
            nbformat.v4.new_output("display_data", data={MIME_TYPE: report, "text/plain": name})
        ])
        cell.id = f"cell-{n}"
        cells.append(cell)
    notebook = nbformat.v4.new_notebook(cells=cells)
    first = json.loads((REPO / "tests/fixtures/reports" / f"{THEMED_FIXTURES[0]}.json").read_text())
    notebook.metadata["nbgrad"] = {"history": {"cell-0/gradcheck/0": {
        "id": first["id"], "outcome": {"figure": "?", "tone": "bad"},
        "previous": {"figure": "3.1e-1", "tone": "bad"},
    }}}
    return _with_python_kernel(notebook)


def _with_python_kernel(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return notebook


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _lab_settings(config_dir: Path) -> None:
    """Start the notebook's kernel without asking; no news or update toasts over the panel."""
    settings = config_dir / "lab" / "user-settings" / "@jupyterlab"
    for plugin, values in [
        ("apputils-extension/notification", {"checkForUpdates": False, "fetchNews": "false"}),
        ("notebook-extension/tracker", {"autoStartDefaultKernel": True}),
    ]:
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the Jupyter server exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"the Jupyter server did not answer within 90 s:\n{log.read_text()}")


@dataclass(frozen=True)
class Server:
    url: str
    root: Path
    #: The server's own JUPYTER_CONFIG_DIR (user settings under ``lab/user-settings``).
    config: Path


@contextmanager
def _serve(app: str, root: Path, home: Path, *options: str) -> Iterator[Server]:
    """``python -m jupyterlab`` or ``python -m notebook`` on a free port, token off, own config.

    ``options`` are extra command-line options for the server.
    """
    installed = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "nbgrad" / "package.json"
    if not installed.exists():
        pytest.fail(f"the nbgrad labextension is not installed ({installed}); run `make setup`")
    _lab_settings(home / "config")
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"),
    }
    port = _free_port()
    log = home / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable, "-m", app,
                f"--port={port}", "--ip=127.0.0.1", "--no-browser",
                "--ServerApp.open_browser=False", "--IdentityProvider.token=", "--allow-root",
                "--ServerApp.password=", f"--ServerApp.root_dir={root}", *options,
            ],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, log)
        yield Server(url, root, home / "config")
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("lab-root")
    nbformat.write(_notebook(), root / "checks.ipynb")
    nbformat.write(_saved_notebook(), root / "shared.ipynb")
    nbformat.write(_themed_notebook(), root / "themes.ipynb")
    with _serve("jupyterlab", root, tmp_path_factory.mktemp("jupyter-home")) as server:
        yield server


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("notebook7-root")
    nbformat.write(_notebook7(), root / "checks7.ipynb")
    with _serve("notebook", root, tmp_path_factory.mktemp("notebook7-home")) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _new_page(browser: Browser) -> Page:
    # Clipboard access: the test reads back what "copy failing indices" copied.
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    page.set_default_timeout(60_000)
    return page


# -- helpers reading the UI -------------------------------------------------


def _rows(page: Page) -> Locator:
    return page.locator(".nbgrad-ChecksPanel-row")


def _statuses(page: Page) -> list[str]:
    return [row.get_attribute("data-status") or "" for row in _rows(page).all()]


NOTEBOOK_PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"


def _cell(page: Page, index: int) -> Locator:
    return page.locator(f"{NOTEBOOK_PANEL} .jp-Notebook .jp-Cell").nth(index)


def _menu(page: Page, menu: str, command: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


#: Whether a cell's top lies inside the notebook's scrolled viewport.
IN_VIEW = """cell => {
    const box = cell.getBoundingClientRect();
    const port = cell.closest('.jp-WindowedPanel-outer').getBoundingClientRect();
    return box.top >= port.top - 2 && box.top < port.bottom;
}"""

ACTIVE = re.compile(r"(^|\s)jp-mod-active(\s|$)")


def _wait_for_kernel(lab: str) -> None:
    """Until the notebook's kernel is idle with the page connected: cells run before are dropped."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{lab}/api/kernels", timeout=5) as response:
                kernels = json.load(response)
        except OSError:  # the server answers 500 while a kernel is half started
            kernels = []
        if any(k["execution_state"] == "idle" and k["connections"] > 0 for k in kernels):
            return
        time.sleep(0.3)
    pytest.fail("no kernel became idle and connected within 60 s")


def _open_notebook(page: Page, lab: str) -> None:
    page.goto(f"{lab}/lab/tree/checks.ipynb")
    _wait_for_kernel(lab)
    page.locator('.jp-SideBar li[data-id="nbgrad-checks"]').click()
    expect(page.locator(".nbgrad-ChecksPanel-empty")).to_contain_text("No nbgrad checks")
    _widen_right_sidebar(page, 140)


def _widen_right_sidebar(page: Page, pixels: int) -> None:
    """Drag the splitter so the labels fit in the screenshot."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle:not(.lm-mod-hidden)").last
    box = handle.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - pixels, y, steps=5)
    page.mouse.up()


def _run_all(page: Page, last_cell: int, count: int) -> None:
    _menu(page, "Run", "runmenu:run-all")
    prompt = _cell(page, last_cell).locator(".jp-InputPrompt")
    expect(prompt).to_have_text(f"[{count}]:", timeout=90_000)


def _clipboard(page: Page) -> str:
    return str(page.evaluate("() => navigator.clipboard.readText()"))


def _copied_indices(page: Page, button: Locator) -> dict[str, list[tuple[int, ...]]]:
    """Click a "copy failing indices" button; the clipboard holds a Python literal."""
    page.evaluate("() => navigator.clipboard.writeText('')")
    button.click()
    expect(button).to_have_text("copied")
    text = _clipboard(page)
    assert text == button.get_attribute("data-indices")
    value = ast.literal_eval(text)
    assert isinstance(value, dict)
    return value


def _wrong_elements() -> dict[str, list[tuple[int, ...]]]:
    """Where the notebook's buggy gradient (columns reversed) differs from 2 W, computed here."""
    W = np.array([[0.5, -1.0, 2.0], [0.3, 1.5, -0.7]])
    return {"W": [tuple(int(i) for i in ix) for ix in np.argwhere(2 * W[:, ::-1] != 2 * W)]}


#: The text the page has selected (CodeMirror mirrors its selection into the DOM's).
SELECTED = "() => window.getSelection().toString()"


# -- the tests --------------------------------------------------------------


def test_panel_lists_jumps_reruns_and_renders(browser: Browser, lab: Server) -> None:
    page = _new_page(browser)
    _open_notebook(page, lab.url)
    _run_all(page, FIX_CELL, 7)

    # The list: every check, in cell order, with its status and execution count.
    expect(_rows(page)).to_have_count(4)
    assert _statuses(page) == ["fail", "diverged", "pass", "pass"]
    counts = page.locator(".nbgrad-ChecksPanel-count").all_inner_texts()
    assert counts == ["[3]", "[4]", "[5]", "[6]"]
    kinds = page.locator(".nbgrad-ChecksPanel-kind").all_inner_texts()
    assert kinds == ["gradcheck", "determinism", "gradcheck", "gradcheck"]

    # Labels: the checked expression, and the loop's call (not "losses = []"), never cut:
    # wrapped inside the panel's width, the full text in the tooltip too.
    labels = page.locator(".nbgrad-ChecksPanel-label")
    assert labels.all_inner_texts()[:3] == [FAILING_LABEL, "noisy_step(step)", "cubic"]
    assert [label.get_attribute("title") for label in labels.all()[:3]] == [
        FAILING_LABEL, "noisy_step(step)", "cubic",
    ]
    long_label = labels.nth(0)
    fits = long_label.evaluate(
        """label => {
            const panel = label.closest('.nbgrad-ChecksPanel').getBoundingClientRect();
            const box = label.getBoundingClientRect();
            const lineHeight = parseFloat(getComputedStyle(label).lineHeight) || 16;
            return {inside: box.right <= panel.right + 1 && label.scrollWidth <= label.clientWidth,
                    lines: Math.round(box.height / lineHeight)};
        }"""
    )
    assert fits["inside"] and fits["lines"] >= 2, fits

    expect(_rows(page).nth(1).locator(".nbgrad-ChecksPanel-current")).to_have_text(
        "step 0 · unseeded_rng"
    )
    before = _rows(page).nth(0).locator(".nbgrad-ChecksPanel-current").inner_text()
    assert float(before) > 1e-3  # a real, large relative error from the reversed columns
    expect(page.locator(".nbgrad-ChecksPanel-summary")).to_have_text("4 checks · 2 failing")

    # The renderer: it draws the bare JSON, and outranks the static HTML of a full bundle.
    bare = _cell(page, JSON_ONLY_CELL).locator(".jp-OutputArea-output .nbgrad-Report")
    expect(bare).to_have_attribute("data-status", "pass")
    headline = _rows(page).nth(3).get_attribute("title")
    assert headline
    expect(bare.locator(".nbgrad-Report-headline")).to_contain_text(headline)
    expect(bare.locator(".nbgrad-Report-blocks tbody tr")).to_have_count(1)
    expect(bare.locator(".nbgrad-CopyIndices")).to_have_count(0)  # nothing failed
    failing_output = _cell(page, FAILING_CELL).locator(".nbgrad-Report")
    expect(failing_output).to_have_attribute("data-status", "fail")
    expect(failing_output.locator(".nbgrad-Report-blocks")).to_contain_text("(2, 3)")
    # ...keeping the static HTML's plots one click away; the bare JSON has none.
    _cell(page, FAILING_CELL).locator(".nbgrad-Report-static > summary").click()
    expect(_cell(page, FAILING_CELL).locator(".nbgrad-Report-static img, "
                                             ".nbgrad-Report-static svg").first).to_be_visible()
    expect(_cell(page, JSON_ONLY_CELL).locator(".nbgrad-Report-static")).to_have_count(0)
    expect(_cell(page, DIVERGING_CELL).locator(".nbgrad-Report-cause")).to_contain_text(
        "unseeded_rng"
    )

    # "Copy failing indices", in the renderer and in the panel: a Python dict of the
    # elements the buggy gradient gets wrong, computed independently here.
    wrong = _wrong_elements()
    assert _copied_indices(page, failing_output.locator(".nbgrad-CopyIndices")) == wrong
    assert _copied_indices(page, _rows(page).nth(0).locator(".nbgrad-CopyIndices")) == wrong

    # "line 6 of noisy_step" (the divergence) links to the set-up cell defining noisy_step,
    # from the report...
    line = SETUP.splitlines()[5]
    assert "np.random.rand" in line
    link = _cell(page, DIVERGING_CELL).locator(".nbgrad-Report-where .nbgrad-LineLink")
    expect(link).to_have_text("line 6 of noisy_step")
    link.click()
    setup = _cell(page, SETUP_CELL)
    expect(setup).to_have_class(ACTIVE)
    page.wait_for_function(f"() => ({SELECTED})() === {json.dumps(line)}")
    # ...and from the panel, scrolling a notebook that had scrolled away.
    page.keyboard.press("Escape")
    setup.evaluate("cell => cell.closest('.jp-WindowedPanel-outer').scrollTop = 1e9")
    page.wait_for_timeout(200)
    assert not setup.evaluate(IN_VIEW)
    _cell(page, FIX_CELL).click()
    _rows(page).nth(1).locator(".nbgrad-LineLink").click()
    expect(setup).to_have_class(ACTIVE)
    page.wait_for_function(IN_VIEW, arg=setup.element_handle())
    page.wait_for_function(f"() => ({SELECTED})() === {json.dumps(line)}")
    page.keyboard.press("Escape")

    # "Failing only".
    page.locator(".nbgrad-ChecksPanel-failingOnly").check()
    assert _statuses(page) == ["fail", "diverged"]
    page.locator(".nbgrad-ChecksPanel-failingOnly").uncheck()
    expect(_rows(page)).to_have_count(4)

    # Click: the notebook scrolls to the cell and makes it the active one.
    _cell(page, FIX_CELL).click()
    target = _cell(page, FAILING_CELL)
    target.evaluate("cell => cell.closest('.jp-WindowedPanel-outer').scrollTop = 1e9")
    page.wait_for_timeout(200)
    assert not target.evaluate(IN_VIEW)
    _rows(page).nth(0).click()
    expect(target).to_have_class(ACTIVE)
    page.wait_for_function(IN_VIEW, arg=target.element_handle())

    # Re-run after the fix (the last cell set BUG = False): history arrow, new status.
    _rows(page).nth(0).locator(".nbgrad-ChecksPanel-rerun").click()
    first = _rows(page).nth(0)
    expect(first).to_have_attribute("data-status", "pass", timeout=60_000)
    expect(first.locator(".nbgrad-ChecksPanel-previous")).to_have_text(before)
    after = first.locator(".nbgrad-ChecksPanel-current").inner_text()
    assert float(after) < 1e-6
    expect(first.locator(".nbgrad-ChecksPanel-figure")).to_have_text(
        f"gradcheck {before} → {after}"
    )
    expect(first.locator(".nbgrad-ChecksPanel-count")).to_have_text("[8]")
    expect(first.locator(".nbgrad-CopyIndices")).to_have_count(0)  # nothing fails any more
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    if os.environ.get("NBGRAD_UPDATE_DOCS") == "1":
        shutil.copyfile(SCREENSHOT, README_SCREENSHOT)

    # The history is saved with the notebook (its metadata) and survives a reload.
    _menu(page, "File", "docmanager:save")
    saved = lab.root / "checks.ipynb"
    deadline = time.monotonic() + 30
    while "nbgrad" not in nbformat.read(saved, as_version=4).metadata:
        assert time.monotonic() < deadline, "the saved notebook has no nbgrad metadata"
        time.sleep(0.3)
    history = nbformat.read(saved, as_version=4).metadata["nbgrad"]["history"]
    assert [slot["previous"]["figure"] for slot in history.values()] == [before]
    page.reload()
    _wait_for_kernel(lab.url)
    if not page.locator(".nbgrad-ChecksPanel").is_visible():
        page.locator('.jp-SideBar li[data-id="nbgrad-checks"]').click()
    expect(_rows(page)).to_have_count(4)
    expect(_rows(page).nth(0).locator(".nbgrad-ChecksPanel-previous")).to_have_text(before)

    # Another notebook, opened from disk with saved outputs and never run.
    page.locator(".jp-DirListing-item", has_text="shared.ipynb").dblclick()
    expect(_rows(page)).to_have_count(1)
    assert _statuses(page) == ["fail"]
    expect(page.locator(".nbgrad-ChecksPanel-count")).to_have_text("[7]")
    shared = _cell(page, 0).locator(".nbgrad-Report")
    expect(shared).to_have_attribute("data-status", "fail")
    # ...and back: the first notebook's list and its history are still there.
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="checks.ipynb").click()
    expect(_rows(page)).to_have_count(4)
    expect(_rows(page).nth(0).locator(".nbgrad-ChecksPanel-previous")).to_have_text(before)

    # Deleting a cell and clearing outputs update the list live.
    _rows(page).nth(1).click()
    expect(_cell(page, DIVERGING_CELL)).to_have_class(ACTIVE)
    _menu(page, "Edit", "notebook:delete-cell")
    expect(_rows(page)).to_have_count(3)
    assert _statuses(page) == ["pass", "pass", "pass"]
    _menu(page, "Edit", "editmenu:clear-all")
    expect(page.locator(".nbgrad-ChecksPanel-empty")).to_contain_text("No nbgrad checks")
    page.context.close()


def test_notebook7_opens_the_panel_in_the_right_sidebar(
    browser: Browser, notebook7: Server
) -> None:
    page = _new_page(browser)
    page.goto(f"{notebook7.url}/notebooks/checks7.ipynb")
    _wait_for_kernel(notebook7.url)
    panel = page.locator(".nbgrad-ChecksPanel")
    # Notebook 7 starts with its right sidebar closed (the panel only under View).
    expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(4)
    expect(panel).to_be_hidden()

    _run_all(page, 3, 4)
    # The first report opened the sidebar with the panel in it, by itself.
    expect(panel).to_be_visible()
    expect(_rows(page)).to_have_count(2)
    assert _statuses(page) == ["fail", "diverged"]
    assert page.locator(".nbgrad-ChecksPanel-label").all_inner_texts() == [
        FAILING_LABEL, "noisy_step(step)",
    ]
    # The header stays on one line in Notebook 7's narrow sidebar: every piece of it
    # overlaps every other vertically (a wrapped piece starts below another's bottom).
    boxes = page.locator(".nbgrad-ChecksPanel-header > *").evaluate_all(
        "nodes => nodes.map(node => [node.getBoundingClientRect().top,"
        " node.getBoundingClientRect().bottom])"
    )
    assert len(boxes) == 3 and max(t for t, _ in boxes) < min(b for _, b in boxes), boxes
    NOTEBOOK7_SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(NOTEBOOK7_SCREENSHOT))
    page.context.close()


@pytest.mark.parametrize("theme", ["JupyterLab Light", "JupyterLab Dark"])
def test_panel_and_renderer_read_in_light_and_dark_themes(
    browser: Browser, lab: Server, theme: str
) -> None:
    # That module imports this one: imported here, once both are loaded.
    from test_browser_theme import AA, CONTRAST

    settings = lab.config / "lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "themes.jupyterlab-settings").write_text(json.dumps({"theme": theme}))
    page = _new_page(browser)
    try:
        page.goto(f"{lab.url}/lab/workspaces/themes{time.monotonic_ns()}/tree/themes.ipynb?reset")
        expect(page.locator("body")).to_have_attribute("data-jp-theme-name", theme)
        page.locator('.jp-SideBar li[data-id="nbgrad-checks"]').click()
        _widen_right_sidebar(page, 140)
        expect(_rows(page)).to_have_count(len(THEMED_FIXTURES))
        assert _statuses(page) == ["fail", "pass", "diverged", "diverged", "deterministic"]
        # The history came with the file (saved elsewhere): the arrow shows at once.
        expect(_rows(page).nth(0).locator(".nbgrad-ChecksPanel-previous")).to_have_text("3.1e-1")
        expect(page.locator(f"{NOTEBOOK_PANEL} .nbgrad-Report")).to_have_count(
            len(THEMED_FIXTURES))
        roots = page.locator(f".nbgrad-ChecksPanel, {NOTEBOOK_PANEL} .nbgrad-Report")
        texts = roots.evaluate_all(CONTRAST)
        assert len(texts) > 20 * len(THEMED_FIXTURES)  # every row and report was measured
        low = [t for t in texts if t["ratio"] < AA]
        assert not low, json.dumps(low[:12], ensure_ascii=False, indent=1)
        name = "dark" if "Dark" in theme else "light"
        page.screenshot(path=str(SCREENSHOT.with_name(f"panel-{name}.png")))
    finally:
        page.context.close()
        (settings / "themes.jupyterlab-settings").unlink()
