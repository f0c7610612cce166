"""The step curve: error versus step size for the worst element, the classic V.

Seed 003 was told to shrink the step from 1e-4 to 1e-8; whether that helps
depends on which side of the V the error sits.  Large steps suffer truncation
error (falling as h²), small ones rounding error (growing as ε/h).  For a
correct gradient the curve dips to ~ε^(2/3) near the chosen step; for a wrong
one it stays flat at the size of the bug whatever the step — the picture that
settles "is it my step size or my gradient?".  :data:`POINTS` steps, log-spaced
from ``0.1·s`` down to ``0.1·√ε·s``, two evaluations each, all counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nbgrad.gradcheck.checks import BlockCheck, PartCheck
from nbgrad.gradcheck.compare import relative_error
from nbgrad.gradcheck.evaluate import CostCalls
from nbgrad.gradcheck.numeric import step_curve
from nbgrad.gradcheck.steps import TYPICAL_SCALE
from nbgrad.report.base import json_float

#: Number of step sizes scanned.
POINTS = 12


def worst_coordinate(checks: list[BlockCheck]) -> tuple[BlockCheck, PartCheck, int] | None:
    """The checked coordinate with the largest error, preferring flagged ones; None if none."""
    best: tuple[tuple[bool, float], BlockCheck, PartCheck, int] | None = None
    for check in checks:
        for part in check.parts:
            # A NaN analytic value has no error to scan (its finding says so already).
            usable = part.checked & np.isfinite(part.analytic)
            errors = np.where(np.isnan(part.rel_error) | ~usable, -np.inf, part.rel_error)
            if not usable.any():
                continue
            order = np.lexsort((errors, part.flagged & usable, usable))
            i = int(order[-1])
            key = (bool(part.flagged[i] and usable[i]), float(errors[i]))
            if best is None or key > best[0]:
                best = (key, check, part, i)
    return None if best is None else best[1:]


def scan_steps(eps: float, theta_i: float) -> np.ndarray:
    """Log-spaced nominal steps from 0.1·s to 0.1·√ε·s, largest first."""
    scale = max(abs(theta_i), TYPICAL_SCALE)
    return np.logspace(np.log10(0.1 * scale), np.log10(0.1 * np.sqrt(eps) * scale), POINTS)


def curve_for_worst(
    checks: list[BlockCheck], f0: float, cost: CostCalls, eps_of: Any
) -> dict[str, Any] | None:
    """Scan the step size for the worst coordinate; the report's ``step_curve``."""
    chosen = worst_coordinate(checks)
    if chosen is None:
        return None
    check, part_check, i = chosen
    part = part_check.part
    theta = part.flat_copy()
    theta_i = float(theta[i])  # parts are real: one scalar read from the device
    cost.expect(2 * POINTS)
    scanned = step_curve(part, i, theta, f0, cost, scan_steps(eps_of(check.block), theta_i))
    numeric = np.asarray(scanned.numeric)
    analytic = np.full(numeric.size, part_check.analytic[i])
    floor = np.full(numeric.size, part_check.floor[i])
    errors = relative_error(analytic, numeric, floor)
    steps = [float(h) for h in scanned.steps]
    return {
        "block": check.block.name,
        "index": i,
        "component": part.component or None,
        "analytic": json_float(part_check.analytic[i]),
        "steps": steps,
        "numeric": [json_float(v) for v in numeric],
        "rel_errors": [json_float(e) for e in errors],
        "chosen_step": json_float(part_check.step[i]) or steps[0],
    }
