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
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import Any

from nbgrad.errors import ReportFormatError


@cache
def report_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of both report kinds."""
    return json.loads(resources.files("nbgrad.report").joinpath("schema.json").read_text())


def report_problems(report: dict[str, Any]) -> list[str]:
    """Every way ``report`` breaks the contract, one message per field (empty when valid).

    Besides the schema, JSON itself is checked: a NaN or infinity would not
    survive ``JSON.parse`` in the browser, so the contract writes them as null.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(report_schema())
    errors = list(validator.iter_errors(report))
    best = jsonschema.exceptions.best_match(errors)  # the most telling one first
    ordered = [best, *(e for e in errors if e is not best)] if best is not None else []
    return [*_non_finite(report, "report"), *map(_describe, ordered)]


def _describe(error: Any) -> str:
    where = "report" + "".join(f"[{part!r}]" for part in error.absolute_path)
    return f"{where}: {error.message} (see docs/report-schema.md)"


def validate_report(report: dict[str, Any]) -> None:
    """Raise :class:`ReportFormatError` naming the first field that breaks the contract."""
    problems = report_problems(report)
    if problems:
        raise ReportFormatError(problems[0])


def _non_finite(value: Any, where: str) -> Iterator[str]:
    if isinstance(value, float) and not math.isfinite(value):
        yield f"{where} is {value!r}; the contract writes non-finite as null"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            yield from _non_finite(item, f"{where}[{position}]")
