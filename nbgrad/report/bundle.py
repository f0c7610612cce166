"""MIME bundle for notebook front ends (placeholder until the renderer issue lands)."""

from __future__ import annotations

from typing import Any

from nbgrad.report.base import MIME_TYPE
from nbgrad.report.text import render_text


def mimebundle(report: dict[str, Any]) -> dict[str, Any]:
    """Return text/plain and the JSON document; HTML and widget come with the renderers."""
    return {"text/plain": render_text(report), MIME_TYPE: report}
