"""Where the wrong elements are, and what the error looks like, in plain words.

Seed 003 lost a week to a regularisation term that kept Theta2's bias
column: three wrong elements, all in column 0, and ``analytic − numeric``
exactly proportional to the parameter values there.  Stated like that the bug
is obvious, so this module looks for such shapes in the flagged set of a
block laid out in 2-D (see :func:`nbgrad.gradcheck.heatmap.layout`):

- the flagged elements lie in **one column** (or one row), the whole of it
  or part of it;
- on those elements ``d = analytic − numeric`` is **proportional to the
  parameter values** ``θ`` (correlation ``r ≥ 0.99``): a ``λ·θ`` term is
  missing from, or extra in, the gradient — a regularisation that treats the
  bias column differently in the cost and in the gradient.  The sign of the
  factor says which side has the extra term.

Each is returned as a finding with its evidence in ``details`` and
``confidence`` equal to the correlation (proportionality) or to how clean the
row/column structure is.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nbgrad.gradcheck.checks import BlockCheck
from nbgrad.gradcheck.compare import FIT_RESIDUAL, fit_scale
from nbgrad.gradcheck.findings import finding
from nbgrad.gradcheck.heatmap import layout

#: Correlation above which ``analytic − numeric`` counts as proportional to ``θ``.
PROPORTIONAL_R = 0.99
#: Fewest elements on which a proportionality is a pattern rather than a coincidence.
MIN_PROPORTIONAL = 3
#: At most this many scattered wrong elements are described as isolated.
ISOLATED = 3


def _region(flagged: np.ndarray, name: str, shape: tuple[int, ...]) -> dict[str, Any] | None:
    """The single row or column holding every flagged element (at least two), if there is one."""
    rows, cols = flagged.shape
    where_rows, where_cols = np.nonzero(flagged)
    if rows < 2 or cols < 2 or where_rows.size < 2:
        return None
    if np.unique(where_cols).size == 1:
        j = int(where_cols[0])
        where = f"{name}[:, {j}]" if len(shape) == 2 else f"{name}[..., {j}]"
        return {"axis": "column", "index": j, "whole": bool(flagged[:, j].all()), "where": where}
    if np.unique(where_rows).size == 1:
        i = int(where_rows[0])
        where = f"{name}[{i}, :]" if len(shape) == 2 else f"{name} (row {i} of {rows}×{cols})"
        return {"axis": "row", "index": i, "whole": bool(flagged[i, :].all()), "where": where}
    return None


def proportionality(difference: np.ndarray, theta: np.ndarray) -> tuple[float, complex | float]:
    """Correlation ``|⟨θ, d⟩| / (‖θ‖‖d‖)`` and the factor ``k`` in ``d ≈ k·θ``."""
    norm_t = float(np.linalg.norm(theta))
    norm_d = float(np.linalg.norm(difference))
    if norm_t == 0 or norm_d == 0:
        return 0.0, 0.0
    inner = np.vdot(theta, difference)
    k = inner / norm_t**2
    return float(abs(inner) / (norm_t * norm_d)), (float(k.real) if np.isreal(k) else complex(k))


def _proportional_hint(k: complex | float, region: dict[str, Any] | None) -> str:
    bias = region is not None and region["index"] == 0
    if isinstance(k, float) and k < 0:
        side = "the cost penalises these parameters but the gradient lacks the matching term"
    elif isinstance(k, float):
        side = "the gradient has a term in these parameters that the cost does not have"
    else:
        side = "a term linear in the parameters differs between cost and gradient"
    if bias:
        return f"the regularisation term includes the bias {region['axis']} ({side})"
    return f"check the regularisation (λ·θ) term: {side}"


def pattern_findings(check: BlockCheck, theta: np.ndarray) -> list[dict[str, Any]]:
    """Findings about the shape of the flagged set of one block (may be empty)."""
    rows, cols = layout(check.block.shape)
    flagged = check.flagged.reshape(rows, cols)
    region = _region(flagged, check.block.name, check.block.shape)
    found = [
        item
        for item in (
            _proportional_finding(check, theta, region),
            _per_line_scale_finding(check, rows, cols),
        )
        if item is not None
    ]
    if not found:
        found.extend(
            item
            for item in (_isolated_finding(check, region), _region_finding(check, region))
            if item is not None
        )
    return found


def _proportional_finding(
    check: BlockCheck, theta: np.ndarray, region: dict[str, Any] | None
) -> dict[str, Any] | None:
    selected = check.flagged
    if selected.sum() < MIN_PROPORTIONAL:
        return None
    r, k = proportionality((check.analytic - check.numeric)[selected], theta.reshape(-1)[selected])
    if r < PROPORTIONAL_R:
        return None
    where = region["where"] if region else check.block.name
    details: dict[str, Any] = {"r": round(r, 4), "factor": _jsonable(k)}
    if region:
        details.update(axis=region["axis"], index=region["index"])
    return finding(
        check.block.name,
        "proportional_to_parameter",
        r,
        f"{where}: analytic − numeric ∝ {where} (r = {r:.2f}, factor {_text(k)}): "
        f"{_proportional_hint(k, region)}",
        **details,
    )


def _line_factors(analytic: np.ndarray, numeric: np.ndarray, lines: np.ndarray) -> list[float]:
    """``c_j`` of ``a ≈ c_j·n`` on each line (rows of the arguments); empty if any fits badly."""
    factors = []
    for j in lines:
        c, residual = fit_scale(analytic[j], numeric[j])
        if residual >= FIT_RESIDUAL or not math.isfinite(c):
            return []
        factors.append(c)
    return factors


def _per_line_scale_finding(check: BlockCheck, rows: int, cols: int) -> dict[str, Any] | None:
    """Every wrong column (or row) is off by its own factor: a per-unit term is wrong.

    Seed 001's RNN takes σ' at the wrong pre-activation: the gradient of
    ``AB`` is ``outer(A, δ)`` with each hidden unit's ``δ_j`` scaled by
    ``σ'(B1_j)/σ'(B1_j + B_t1_j)``, so column ``j`` is off by its own factor.
    """
    if rows < 2 or cols < 2 or check.block.is_complex or not check.checked.all():
        return None
    analytic = check.analytic.reshape(rows, cols)
    numeric = check.numeric.reshape(rows, cols)
    flagged = check.flagged.reshape(rows, cols)
    # A per-unit factor spoils its whole line: every resolvable element of it is flagged.
    resolvable = np.abs(numeric) > (check.floor * check.tolerance).reshape(rows, cols)
    for axis, line in ((1, "column"), (0, "row")):
        lines = np.flatnonzero(flagged.any(axis=1 - axis))
        spoilt = np.all(flagged | ~resolvable, axis=1 - axis)[lines]
        if not spoilt.all():
            continue
        a, n = (analytic.T, numeric.T) if axis == 1 else (analytic, numeric)
        factors = _line_factors(a, n, lines) if lines.size >= 2 else []
        if factors and max(factors) - min(factors) > FIT_RESIDUAL * max(map(abs, factors)):
            return finding(
                check.block.name,
                f"{line}_scale",
                0.85,
                f"{check.block.name}: each wrong {line} is off by its own factor (analytic ≈ "
                f"c × numeric per {line}, c from {min(factors):.3g} to {max(factors):.3g}): "
                f"the per-unit factor of each {line} is wrong — typically an activation "
                "derivative σ'(z) taken at the wrong pre-activation, or a missing/extra "
                "per-unit term",
                axis=line,
                lines=[int(j) for j in lines[:50]],
                factors=[float(c) for c in factors[:50]],
            )
    return None


def _isolated_finding(check: BlockCheck, region: dict[str, Any] | None) -> dict[str, Any] | None:
    block = check.block
    wrong = np.flatnonzero(check.flagged)
    if region or not 0 < wrong.size <= min(ISOLATED, block.size // 4):
        return None
    labels = ", ".join(block.label(int(i)) for i in wrong)
    return finding(
        block.name,
        "isolated",
        0.7,
        f"{labels}: isolated wrong element(s) among {block.size - wrong.size} right ones — an "
        "indexing slip (off-by-one, a wrong slice) or a special case (first/last time step, "
        "an edge) in the gradient code?",
        elements=[int(i) for i in wrong],
    )


def _region_finding(check: BlockCheck, region: dict[str, Any] | None) -> dict[str, Any] | None:
    if region is None:
        return None
    name = check.block.name
    extent = "every element" if region["whole"] else f"{int(check.flagged.sum())} element(s)"
    return finding(
        name,
        f"one_{region['axis']}",
        0.9 if region["whole"] else 0.7,
        f"{region['where']}: {extent} of {region['axis']} {region['index']} wrong, the rest of "
        f"{name} right — look at how this {region['axis']} is treated differently (a bias "
        "term, an edge of a loop, an off-by-one slice)",
        axis=region["axis"],
        index=region["index"],
        whole=region["whole"],
    )


def _jsonable(k: complex | float) -> Any:
    return [k.real, k.imag] if isinstance(k, complex) else k


def _text(k: complex | float) -> str:
    return f"{k:.3g}"
