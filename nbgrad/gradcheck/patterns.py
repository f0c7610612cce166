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

from typing import Any

import numpy as np

from nbgrad.gradcheck.checks import BlockCheck
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
    block = check.block
    rows, cols = layout(block.shape)
    flagged = check.flagged.reshape(rows, cols)
    region = _region(flagged, block.name, block.shape)
    where = region["where"] if region else block.name
    selected = flagged.reshape(-1)
    difference = (check.analytic - check.numeric)[selected]
    values = theta.reshape(-1)[selected]
    found = []
    if selected.sum() >= MIN_PROPORTIONAL:
        r, k = proportionality(difference, values)
        if r >= PROPORTIONAL_R:
            details: dict[str, Any] = {"r": round(r, 4), "factor": _jsonable(k)}
            if region:
                details.update(axis=region["axis"], index=region["index"])
            found.append(
                finding(
                    block.name,
                    "proportional_to_parameter",
                    r,
                    f"{where}: analytic − numeric ∝ {where} (r = {r:.2f}, factor {_text(k)}): "
                    f"{_proportional_hint(k, region)}",
                    **details,
                )
            )
    flagged_count = int(selected.sum())
    if not found and not region and 0 < flagged_count <= min(ISOLATED, block.size // 4):
        labels = ", ".join(block.label(int(i)) for i in np.flatnonzero(selected))
        found.append(
            finding(
                block.name,
                "isolated",
                0.7,
                f"{labels}: isolated wrong element(s) among {block.size - int(selected.sum())} "
                "right ones — an indexing slip (off-by-one, a wrong slice) or a special case "
                "(first/last time step, an edge) in the gradient code?",
                elements=[int(i) for i in np.flatnonzero(selected)],
            )
        )
    if region and not found:
        extent = "every element" if region["whole"] else f"{int(selected.sum())} element(s)"
        found.append(
            finding(
                block.name,
                f"one_{region['axis']}",
                0.9 if region["whole"] else 0.7,
                f"{where}: {extent} of {region['axis']} {region['index']} wrong, the rest of "
                f"{block.name} right — look at how this {region['axis']} is treated differently "
                "(a bias term, an edge of a loop, an off-by-one slice)",
                axis=region["axis"],
                index=region["index"],
                whole=region["whole"],
            )
        )
    return found


def _jsonable(k: complex | float) -> Any:
    return [k.real, k.imag] if isinstance(k, complex) else k


def _text(k: complex | float) -> str:
    return f"{k:.3g}"
