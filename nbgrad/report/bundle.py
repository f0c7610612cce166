"""The MIME bundle a report hands to Jupyter: which front end shows what, and why.

Every bundle carries three static representations:

* ``text/plain`` (terminals, plain IPython, CI logs),
* ``text/html`` (sanitiser-safe static report: GitHub, nbviewer, nbconvert and
  a notebook reopened with no kernel),
* ``application/vnd.nbgrad.report+json`` (the dictionary itself, for the
  JupyterLab panel and for tools such as ``python -m nbgrad``).

The live widget (``application/vnd.jupyter.widget-view+json``) is added only
on request (:func:`use_live_widgets`) and only inside a kernel with a comm.
Why not by default: a front end picks the *richest* type in one output, and
the widget view outranks HTML.  Checked against the code of the widget
renderer that JupyterLab 4 and Notebook 7 load (``@jupyter-widgets/
jupyterlab-manager`` 5.x, ``WidgetRenderer.renderModel``): when the model is
gone (notebook reopened, kernel restarted, widget state not saved, which is
the default) it writes "Error displaying widget: model not found" and does
*not* fall back to the bundle's ``text/html``; VS Code behaves the same
(microsoft/vscode-jupyter#8635).  nbconvert (and so nbviewer) drops widget
views whose state is not in the notebook metadata (``WidgetsDataTypeFilter``)
and shows the HTML; when the state *is* saved (nbclient saves it, so every
``python -m nbgrad run`` export would have it) it renders the widget through
the html-manager script fetched from unpkg.com, a network dependency.  So a
widget in the bundle would make every shared notebook show an error (or need
the network) where the report should be, which is the one thing the static
output exists to prevent.
``%gradcheck --widget`` and ``%determinism --widget`` ask for the live view of
*one* report (:func:`show_live`): its bundle then carries the widget view beside
the three static representations, in one output, so the report appears once
while the kernel lives, and an export whose widget state was not saved (the
default) falls back to the bundle's ``text/html``.  JupyterLab itself does not
fall back from a widget view whose model is gone (see above); in an untrusted
notebook it skips the (unsafe) widget view and shows the JSON or the HTML.
"""

from __future__ import annotations

import sys
from typing import Any

from nbgrad.report.base import MIME_TYPE
from nbgrad.report.html import render_html
from nbgrad.report.text import render_text

WIDGET_MIME_TYPE = "application/vnd.jupyter.widget-view+json"

_settings = {"live_widgets": False}
#: Ids of the reports whose bundle carries the live widget (:func:`show_live`).
_live: set[str] = set()


def use_live_widgets(enabled: bool = True) -> None:
    """Put the live widget into report bundles (kernel sessions only; see the module doc)."""
    _settings["live_widgets"] = bool(enabled)


def show_live(report_id: str) -> None:
    """Put the live widget into this one report's bundle (``--widget``), kernel sessions only."""
    _live.add(report_id)


def mimebundle(report: dict[str, Any]) -> dict[str, Any]:
    """Return the bundle: text, static HTML and JSON, plus the widget view when asked and live."""
    bundle: dict[str, Any] = {
        "text/plain": render_text(report),
        "text/html": render_html(report),
        MIME_TYPE: report,
    }
    wanted = _settings["live_widgets"] or str(report.get("id")) in _live
    if wanted and in_live_kernel():
        from nbgrad.report.widget import report_widget

        bundle[WIDGET_MIME_TYPE] = report_widget(report)._repr_mimebundle_()[WIDGET_MIME_TYPE]
    return bundle


def in_live_kernel() -> bool:
    """True inside an IPython kernel (ipykernel) whose comms reach a front end."""
    if "ipykernel" not in sys.modules or "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
