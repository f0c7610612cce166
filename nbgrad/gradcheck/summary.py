"""From per-coordinate outcomes to the report document of docs/report-schema.md.

Everything a renderer shows is decided here, once: which elements are the
worst, the heatmap, the union of diagnoses, the order of findings, and the
headline sentence.  Every float goes through :func:`json_float`, so NaN and
infinity become ``null`` and the document survives ``JSON.parse``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nbgrad.gradcheck.checks import BlockCheck
from nbgrad.gradcheck.diagnoses import Diagnosis
from nbgrad.gradcheck.heatmap import MAX_CELLS, PASSING_CELLS, heatmap
from nbgrad.gradcheck.noise import Noise
from nbgrad.report.base import envelope, json_float

#: Longest ``flagged`` list in a block (``n_flagged`` keeps the true count).
MAX_FLAGGED = 1000
#: Elements listed in a block's ``worst``.
MAX_WORST = 10
PASSING_WORST = 5


def element(check: BlockCheck, i: int) -> dict[str, Any]:
    """One entry of a block's ``worst`` list."""
    analytic = check.analytic[i]
    numeric = check.numeric[i]
    entry = {
        "index": int(i),
        "multi_index": check.block.multi_index(i),
        "analytic": json_float(np.real(analytic)),
        "numeric": json_float(np.real(numeric)),
        "rel_error": json_float(check.rel_error[i]),
        "step": json_float(check.step[i]),
        "standard_errors": json_float(standard_errors(check, i)),
    }
    if check.block.is_complex:
        entry["analytic_imag"] = json_float(np.imag(analytic))
        entry["numeric_imag"] = json_float(np.imag(numeric))
    return entry


def standard_errors(check: BlockCheck, i: int) -> float:
    """How many rounding standard errors ``|analytic − numeric|`` is at element ``i``.

    The numeric derivative's standard error at step ``h`` is the cost's absolute
    precision over the step, ``ε·|C|/h`` (ε widened to the measured noise): the
    element's resolution floor times the tolerance.  A right element sits within
    a few; a wrong one thousands away.  NaN where nothing was checked.
    """
    sigma = float(check.floor[i]) * check.tolerance
    difference = float(np.max(np.abs(np.atleast_1d(check.analytic[i] - check.numeric[i]))))
    if not np.isfinite(difference) or not sigma > 0:
        return float("nan")
    return difference / sigma


def worst_elements(check: BlockCheck, limit: int = MAX_WORST) -> list[int]:
    """Indices of the checked elements with the largest errors, flagged ones first."""
    errors = np.where(np.isnan(check.rel_error), -np.inf, check.rel_error)
    candidates = np.flatnonzero(check.checked)
    if candidates.size == 0:
        return []
    key = np.lexsort((-errors[candidates], ~check.flagged[candidates]))
    return [int(i) for i in candidates[key][:limit]]


def block_entry(check: BlockCheck, diagnosis: Diagnosis) -> dict[str, Any]:
    """One block of the report (fast mode adds ``fast``: what the directional tests did)."""
    block = check.block
    flagged = np.flatnonzero(check.flagged)
    extra = {"fast": check.directions.to_dict()} if check.directions is not None else {}
    return {
        "name": block.name,
        "shape": list(block.shape),
        "dtype": block.dtype.name,
        "device": block.device,
        "size": block.size,
        "passed": diagnosis.passed,
        "max_rel_error": json_float(check.max_rel_error()),
        "tolerance": check.tolerance,
        "diagnoses": diagnosis.codes,
        "scale": json_float(diagnosis.scale),
        "flagged": [int(i) for i in flagged[:MAX_FLAGGED]],
        "n_flagged": int(flagged.size),
        "checked": int(check.checked.sum()),
        # A passing block lists fewer: its closest calls show the margin, and every saved
        # notebook carries them (issue 10: a passing report within 20 KB).
        "worst": [element(check, i) for i in worst_elements(
            check, PASSING_WORST if diagnosis.passed else MAX_WORST)],
        # Kinks and rounding-scattered elements have no verdict: like max_rel_error, the map
        # leaves them out.
        "heatmap": heatmap(
            np.where(check.kink | check.unresolved, np.nan, check.rel_error), block.shape,
            PASSING_CELLS if diagnosis.passed else MAX_CELLS,
        ),
        "taylor": diagnosis.taylor,
        # NaN/inf analytic values: flagged (nonfinite_analytic), null in the heatmap like
        # unchecked elements, so renderers need their indices to draw them as such.
        "nonfinite": [int(i) for i in np.flatnonzero(~np.isfinite(check.analytic))[:MAX_FLAGGED]],
        **extra,
    }


def union_of_codes(diagnoses: list[Diagnosis]) -> list[str]:
    """Sorted union of block codes, without "ok" unless every block is ok."""
    codes = {code for diagnosis in diagnoses for code in diagnosis.codes}
    if codes != {"ok"}:
        codes.discard("ok")
    return sorted(codes)


def headline(checks: list[BlockCheck], diagnoses: list[Diagnosis], findings: list[dict]) -> str:
    """The verdict in one sentence."""
    failing = [
        (check, diagnosis)
        for check, diagnosis in zip(checks, diagnoses, strict=True)
        if not diagnosis.passed
    ]
    if not failing:
        worst = max((json_float(c.max_rel_error()) or 0.0 for c in checks), default=0.0)
        size = sum(c.block.size for c in checks)
        tolerance = max(c.tolerance for c in checks)
        directions = [c.directions for c in checks if c.directions is not None]
        if directions:  # fast mode vouches for directions and for the elements it checked
            tried = sum(len(d.failed) for d in directions)
            agreed = sum(d.failed.count(False) - d.kinks for d in directions)
            kinks = sum(d.kinks for d in directions)
            met = f" ({kinks} met a kink)" if kinks else ""
            checked = sum(int(c.checked.sum()) for c in checks)
            return (
                f"Gradient OK (fast mode): {agreed} of {tried} random direction(s) over {size} "
                f"element(s) in {len(checks)} block(s) agree{met}; {checked} element(s) "
                f"checked one by one, max relative error {worst:.1e} (tolerance "
                f"{tolerance:.1e})."
            )
        return (
            f"Gradient OK: {size} element(s) in {len(checks)} block(s), max relative error "
            f"{worst:.1e} (tolerance {tolerance:.1e})."
        )
    if any("drift" in d.codes for _, d in failing):  # no verdict on any element is possible
        lead = findings[0]["message"] if findings else ""
        return f"Cost drifts — {lead[:1].upper()}{lead[1:]}."
    flat = [c.block.name for c, d in failing if "flat" in d.codes and not c.flagged.any()]
    parts = [_flat_sentence(flat)] if flat else []
    for check, diagnosis in failing:
        codes = ", ".join(code for code in diagnosis.codes if code not in ("ok", "noisy"))
        if check.block.name in flat:
            continue
        if "noisy" in diagnosis.codes and not check.flagged.any():
            parts.append(f"{check.block.name}: the cost is too noisy to check it")
        elif check.directions is not None:  # fast mode: a claim about the elements checked
            counted = (
                f"{int(check.flagged.sum())} of the {int(check.checked.sum())} element(s) "
                "checked one by one wrong"
            )
            if check.directions.stopped:  # the sample is no evidence of where the error is
                ranges = len(check.directions.unlocalised)
                parts.append(
                    f"{check.block.name}: wrong along random directions, in {ranges} failing "
                    f"range(s) of coordinates, too many to isolate in fast mode ({counted}; "
                    f"{codes})"
                )
            else:
                parts.append(f"{check.block.name}: {counted} ({codes})")
        else:
            parts.append(
                f"{check.block.name}: {int(check.flagged.sum())} of {check.block.size} "
                f"element(s) wrong ({codes})"
            )
    if len(flat) == len(failing):
        # Every failure is a flat cost: the gradient is not the problem, and the
        # per-block flat findings would only repeat the sentence.
        return f"Cost flat — {parts[0]}."
    lead = findings[0]["message"] if findings else ""
    unchecked = all("noisy" in d.codes and not c.flagged.any() for c, d in failing)
    opening = "Gradient not checked — " if unchecked else "Gradient wrong — "
    sentence = opening + "; ".join(parts) + "."
    return f"{sentence} {lead}" if lead else sentence


def _flat_sentence(names: list[str]) -> str:
    """One sentence for every block the cost ignores (seed 002's cosine of two scalars)."""
    them = "it" if len(names) == 1 else "them"
    return (f"{', '.join(names)}: the cost does not change with {them}, "
            f"so gradient descent cannot train {them}")


@dataclass
class RunInfo:
    """What the report says about the run itself, besides the per-block results."""

    mode: str
    label: str
    evaluations: int
    noise: Noise
    elapsed_s: float


def report_document(
    checks: list[BlockCheck],
    diagnoses: list[Diagnosis],
    findings: list[dict[str, Any]],
    step_curve: dict[str, Any] | None,
    run: RunInfo,
) -> dict[str, Any]:
    """The complete gradcheck report dictionary."""
    passed = all(diagnosis.passed for diagnosis in diagnoses)
    errors = [json_float(check.max_rel_error()) for check in checks]
    known = [error for error in errors if error is not None]
    return {
        "kind": "gradcheck",
        **envelope(run.elapsed_s),
        "label": run.label,
        "status": "pass" if passed else "fail",
        "headline": headline(checks, diagnoses, findings),
        "passed": passed,
        "max_rel_error": max(known) if known else None,
        "evaluations": run.evaluations,
        "mode": run.mode,
        "tolerance": max(check.tolerance for check in checks),
        "diagnoses": union_of_codes(diagnoses),
        "noise": {**run.noise.to_dict(), "floor": json_float(run.noise.floor)},
        "findings": findings,
        "blocks": [
            block_entry(check, diagnosis)
            for check, diagnosis in zip(checks, diagnoses, strict=True)
        ],
        "step_curve": step_curve,
        **_fast_summary(checks),
    }


def _fast_summary(checks: list[BlockCheck]) -> dict[str, Any]:
    """Fast mode's report-level ``fast``: the evaluations the verdict alone needed."""
    directions = [check.directions for check in checks if check.directions is not None]
    if not directions:
        return {}
    return {"fast": {"verdict_evaluations": max(d.verdict_evaluations for d in directions)}}
