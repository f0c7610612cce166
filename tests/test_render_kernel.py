"""In a real kernel: the opt-in live widget joins the bundle; progress is a display updated in
place and emptied, leaving no widget behind."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from nbgrad.report.bundle import WIDGET_MIME_TYPE
from nbgrad.report.html import render_html

FIXTURE = Path(__file__).parent / "fixtures" / "reports" / "gradcheck_scale.json"

BUNDLES = f"""
import json, time
from IPython.display import display
from nbgrad.report.bundle import mimebundle, use_live_widgets
from nbgrad.report.progress import progress_reporter
report = json.load(open({str(FIXTURE)!r}))
display(mimebundle(report), raw=True)
use_live_widgets(True)
display(mimebundle(report), raw=True)
"""

PROGRESS = """
with progress_reporter("gradcheck W", min_seconds=0) as callback:
    for done in range(1, 4):
        callback(done, 3)
        time.sleep(0.25)
print("closed:", callback.display is None)
"""


@pytest.fixture(scope="module")
def executed() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(BUNDLES), nbformat.v4.new_code_cell(PROGRESS)]
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    return notebook


@pytest.mark.kernel
def test_live_widget_is_added_only_on_request(executed: nbformat.NotebookNode) -> None:
    static, live = executed.cells[0].outputs
    report = json.loads(FIXTURE.read_text())
    assert WIDGET_MIME_TYPE not in static["data"]
    assert static["data"]["text/html"] == render_html(report)
    view = live["data"][WIDGET_MIME_TYPE]
    assert live["data"]["text/html"] == render_html(report), "static HTML travels with the widget"
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert state[view["model_id"]]["model_name"] == "VBoxModel"
    dropdowns = [m["state"] for m in state.values() if m["model_name"] == "DropdownModel"]
    assert dropdowns[0]["description"] == "block"


@pytest.mark.kernel
def test_progress_is_one_display_updated_in_place_and_emptied(
    executed: nbformat.NotebookNode,
) -> None:
    outputs = executed.cells[1].outputs
    assert [o["output_type"] for o in outputs] == ["display_data", "stream"]
    assert outputs[0]["data"] == {}, "the progress display is emptied before the result"
    assert outputs[1]["name"] == "stdout" and outputs[1]["text"] == "closed: True\n"
    state = executed.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert not [m for m in state.values() if m["model_name"] == "IntProgressModel"]
