"""Validate a report dictionary against the written contract (docs/report-schema.md).

``schema.json`` is the machine-readable twin of the document; the checker
engines' tests validate real reports with :func:`validate_report`, and the
renderers' tests validate every fixture, so producers and consumers are held
to the same text.  ``jsonschema`` is a test-time dependency, imported only
when validation is asked for.
"""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources
from typing import Any

from nbgrad.errors import ReportFormatError


@cache
def report_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of both report kinds."""
    return json.loads(resources.files("nbgrad.report").joinpath("schema.json").read_text())


def validate_report(report: dict[str, Any]) -> None:
    """Raise :class:`ReportFormatError` naming the first field that breaks the contract.

    Besides the schema, JSON itself is checked: a NaN or infinity would not
    survive ``JSON.parse`` in the browser, so the contract writes them as null.
    """
    import jsonschema

    _reject_non_finite(report, "report")
    validator = jsonschema.Draft202012Validator(report_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(report))
    if error is not None:
        where = "report" + "".join(f"[{part!r}]" for part in error.absolute_path)
        raise ReportFormatError(f"{where}: {error.message} (see docs/report-schema.md)")


def _reject_non_finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ReportFormatError(f"{where} is {value!r}; the contract writes non-finite as null")
    if isinstance(value, dict):
        for key, item in value.items():
            _reject_non_finite(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            _reject_non_finite(item, f"{where}[{position}]")
