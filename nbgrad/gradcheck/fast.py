"""Fast mode: random directional derivatives for the verdict, group testing to localise."""

from __future__ import annotations

from typing import Any

from nbgrad.errors import UsageError


def check(*args: Any) -> Any:
    """Placeholder until the group-testing search lands (same commit series)."""
    raise UsageError("mode='fast' is not available yet; use mode='full'")
