"""The one contract: every nbgrad result is a versioned JSON document.

A report object keeps whatever it needs internally, but everything a human or
a tool sees goes through :meth:`Report.to_dict`.  Text, HTML, the live widget
and the JupyterLab panel are all renderers of that dictionary, so a notebook
saved with outputs, a CI log and the sidebar can never disagree.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

#: Version of the JSON layout described in docs/report-schema.md.  Bump it when
#: a field changes meaning or disappears; adding fields does not bump it.
SCHEMA_VERSION = 1

#: MIME type under which the report dictionary travels in notebook outputs.
MIME_TYPE = "application/vnd.nbgrad.report+json"


class Report(abc.ABC):
    """Base of :class:`GradcheckReport` and :class:`DeterminismReport`."""

    kind: ClassVar[str]

    @abc.abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-serialisable report (plain dicts, lists, str, float, int, bool, None)."""

    def __repr__(self) -> str:
        from nbgrad.report.text import render_text

        return render_text(self.to_dict())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from nbgrad.report.bundle import mimebundle

        return mimebundle(self.to_dict())
