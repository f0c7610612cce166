"""The one contract: every nbgrad result is a versioned JSON document.

A report object keeps whatever it needs internally, but everything a human or
a tool sees goes through :meth:`Report.to_dict`.  Text, HTML, the live widget
and the JupyterLab panel are all renderers of that dictionary, so a notebook
saved with outputs, a CI log and the sidebar can never disagree.
"""

from __future__ import annotations

import copy
import datetime
import math
import uuid
from typing import Any, ClassVar

#: Version of the JSON layout described in docs/report-schema.md.  Bump it when
#: a field changes meaning or disappears; adding fields does not bump it.
SCHEMA_VERSION = 1

#: MIME type under which the report dictionary travels in notebook outputs.
MIME_TYPE = "application/vnd.nbgrad.report+json"


def envelope(elapsed_s: float) -> dict[str, Any]:
    """The fields every report starts with, built here for both kinds.

    ``id``: 32 hex digits (a UUID4); ``created``: UTC, to the second, ending
    in ``Z``; ``elapsed_s``: rounded to microseconds.

    >>> sorted(envelope(0.25))
    ['created', 'elapsed_s', 'id', 'nbgrad_version', 'version']
    >>> envelope(0.25)["created"].endswith("Z")
    True
    """
    from nbgrad import __version__

    return {
        "version": SCHEMA_VERSION,
        "nbgrad_version": __version__,
        "id": uuid.uuid4().hex,
        "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "elapsed_s": round(max(float(elapsed_s), 0.0), 6),
    }


def json_float(value: Any) -> float | None:
    """A finite float, or ``None`` for NaN, infinity and ``None`` (numpy scalars welcome)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """Replace non-finite floats by ``None`` and tuples by lists, recursively.

    ``NaN``/``Infinity`` are not JSON: ``JSON.parse`` in the browser rejects
    the whole document, so the panel would lose every report of the notebook.
    """
    if isinstance(value, float):
        return json_float(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class Report:
    """Base of :class:`GradcheckReport` and :class:`DeterminismReport`.

    The engines compute the whole document; a report object only holds it and
    gives code attribute access to the fields every kind shares.
    """

    kind: ClassVar[str]

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = json_safe({"kind": self.kind, **data})

    def to_dict(self) -> dict[str, Any]:
        """A deep copy of the report document (plain JSON types only)."""
        return copy.deepcopy(self._data)

    @property
    def status(self) -> str:
        return str(self._data["status"])

    @property
    def headline(self) -> str:
        return str(self._data["headline"])

    @property
    def label(self) -> str:
        return str(self._data["label"])

    @property
    def id(self) -> str:
        return str(self._data["id"])

    def __repr__(self) -> str:
        from nbgrad.report.text import render_text

        return render_text(self.to_dict())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        from nbgrad.report.bundle import mimebundle

        return mimebundle(self.to_dict())
