"""Exceptions that are part of nbgrad's interface.

Every error a user can cause derives from :class:`NbgradError`, so a notebook
can catch them all, and every message names the culprit (a parameter, a
variable, a cell line) and says what was expected instead.  The magics show
these messages without a traceback from inside nbgrad: a student should read
what to fix, not where nbgrad noticed it.
"""

from __future__ import annotations


class NbgradError(Exception):
    """Base class of every error nbgrad raises on purpose."""


class ParameterError(NbgradError, TypeError):
    """A parameter is not a floating-point array nbgrad can perturb in place."""


class CostError(NbgradError, ValueError):
    """The cost function returned something that is not a finite real scalar."""


class GradientError(NbgradError, ValueError):
    """The analytic gradient does not mirror the parameters' structure or shapes."""


class EvaluationError(NbgradError, RuntimeError):
    """The user's function raised while nbgrad evaluated it at a perturbed point."""


class CellError(NbgradError, RuntimeError):
    """The user's cell raised; the original exception is chained as ``__cause__``."""


class SnapshotError(NbgradError, MemoryError):
    """The state to snapshot does not fit in the memory that is free."""


class UsageError(NbgradError, ValueError):
    """A magic or API option is malformed (unknown name, bad value)."""


class ReportFormatError(NbgradError, ValueError):
    """A report dictionary does not follow docs/report-schema.md (names the field at fault)."""
