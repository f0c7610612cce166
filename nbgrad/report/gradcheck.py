"""The gradient check's report: a finished, JSON-safe dictionary with convenient accessors.

The engine (:mod:`nbgrad.gradcheck`) computes everything and hands this class
the dictionary described in docs/report-schema.md; the class adds nothing but
attribute access for code (``report.passed``, ``report.blocks[0]["flagged"]``)
and inherits ``__repr__``/``_repr_mimebundle_`` from :class:`Report`, so the
text, the notebook output and the panel all render the same document.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from nbgrad.report.base import Report


class GradcheckReport(Report):
    """Result of :func:`nbgrad.gradcheck`."""

    kind: ClassVar[str] = "gradcheck"

    @property
    def passed(self) -> bool:
        return bool(self._data["passed"])

    @property
    def max_rel_error(self) -> float | None:
        return self._data["max_rel_error"]

    @property
    def evaluations(self) -> int:
        return int(self._data["evaluations"])

    @property
    def diagnoses(self) -> list[str]:
        return list(self._data["diagnoses"])

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._data["blocks"])

    @property
    def findings(self) -> list[dict[str, Any]]:
        return copy.deepcopy(self._data["findings"])

    def block(self, name: str) -> dict[str, Any]:
        """The block called ``name`` (``report.block("Theta2")["flagged"]``)."""
        for entry in self._data["blocks"]:
            if entry["name"] == name:
                return copy.deepcopy(entry)
        known = ", ".join(entry["name"] for entry in self._data["blocks"])
        raise KeyError(f"no block named {name!r}; the report has: {known}")
