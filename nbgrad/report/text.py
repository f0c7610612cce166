"""Plain-text rendering (placeholder until the renderer issue lands)."""

from __future__ import annotations

import json
from typing import Any


def render_text(report: dict[str, Any]) -> str:
    """Return the report as indented JSON; replaced by the aligned summary renderer."""
    return json.dumps(report, indent=1)
