"""The report's findings: one explanation in plain words, with its evidence and a confidence.

Every producer of findings (diagnosis, patterns, noise, fast mode) builds them
here, so they all have the shape docs/report-schema.md promises:
``{block, code, confidence, message, details}`` with ``confidence`` in [0, 1].
"""

from __future__ import annotations

import math
from typing import Any


def finding(
    block: str | None, code: str, confidence: float, message: str, **details: Any
) -> dict[str, Any]:
    """One entry of the report's ``findings`` list."""
    confidence = min(max(float(confidence), 0.0), 1.0) if math.isfinite(confidence) else 0.0
    return {
        "block": block,
        "code": code,
        "confidence": round(confidence, 3),
        "message": message,
        "details": details,
    }
