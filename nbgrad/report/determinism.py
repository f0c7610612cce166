"""The determinism report: one JSON document per check (docs/report-schema.md)."""

from __future__ import annotations

import copy
import math
from typing import Any, ClassVar

from nbgrad.report.base import Report


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by ``None`` and tuples by lists, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class DeterminismReport(Report):
    """Result of :func:`nbgrad.check_determinism`; ``to_dict()`` is the contract."""

    kind: ClassVar[str] = "determinism"

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = json_safe({"kind": self.kind, **data})

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    @property
    def deterministic(self) -> bool:
        return bool(self._data["deterministic"])

    @property
    def first_divergence(self) -> dict[str, Any] | None:
        divergence = self._data["first_divergence"]
        return None if divergence is None else copy.deepcopy(divergence)

    @property
    def status(self) -> str:
        return self._data["status"]

    @property
    def headline(self) -> str:
        return self._data["headline"]

    @property
    def error(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._data["error"])
