"""Gradient checking (implementation lands with issue 2)."""

from __future__ import annotations

from typing import Any


def gradcheck(fun: Any, params: Any, **options: Any) -> Any:
    """Check ``fun``'s analytic gradient against finite differences."""
    raise NotImplementedError("nbgrad.gradcheck is being written")
