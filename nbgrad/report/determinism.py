"""The determinism report: one JSON document per check (docs/report-schema.md)."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from nbgrad.report.base import Report


class DeterminismReport(Report):
    """Result of :func:`nbgrad.check_determinism`; ``to_dict()`` is the contract."""

    kind: ClassVar[str] = "determinism"

    #: The user's exception when the cell raised in run 0 (not part of the document):
    #: ``%%determinism`` shows the report, then lets it through, as a plain run would.
    exception: BaseException | None = None

    @property
    def deterministic(self) -> bool:
        return bool(self._data["deterministic"])

    @property
    def first_divergence(self) -> dict[str, Any] | None:
        divergence = self._data["first_divergence"]
        return None if divergence is None else copy.deepcopy(divergence)

    @property
    def error(self) -> dict[str, Any] | None:
        return copy.deepcopy(self._data["error"])
