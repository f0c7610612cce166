"""What kind of wrong: stable diagnosis codes per block, and findings in plain words.

A mismatch alone sends the user back to staring at their backprop.  Most
hand-written gradient bugs leave a fingerprint in how analytic ``a`` and
numeric ``n`` disagree, so every failing block is tested against them, in the
order that gives the most specific answer:

- ``flat``: the cost does not move at all (one-sided changes within
  rounding) when any element of the block moves, so nothing can train it
  (seed 002: the cosine of two scalars is ±1).  A minimum, where only the
  derivative vanishes, is not flat.  Reported as a failure even when the
  analytic gradient is zero too: the check cannot confirm a gradient that
  does not exist, and the finding says why training stalls.
- ``zero_analytic``: every flagged element has an analytic value of exactly
  0 while the cost moves (a gradient buffer never filled in).
- ``sign_flip`` / ``scale``: the flagged elements fit ``a = c·n`` (least
  squares, residual under 1 %): ``c ≈ −1`` is a flipped sign, anything else a
  scale factor reported as ``scale = c`` (a forgotten ``1/m`` gives ``c = m``).
- ``transpose``: ``aᵀ`` (square blocks), or ``a`` laid out with the axes
  swapped, matches ``n`` within the tolerance.
- ``mismatch``: flagged with none of these fingerprints.
- ``nondifferentiable``: some elements sit on a kink; they are excluded from
  failing (see :mod:`nbgrad.gradcheck.full`).
- ``noisy``: the cost is not reproducible at a fixed point.

Row/column and proportional-to-parameter patterns are found by
:mod:`nbgrad.gradcheck.patterns`.  Each finding carries a confidence in
``[0, 1]``: how far the evidence is from the threshold that would have made
nbgrad say otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbgrad.gradcheck.checks import BlockCheck
from nbgrad.gradcheck.compare import FIT_RESIDUAL, explains_scale, fit_scale
from nbgrad.gradcheck.findings import finding
from nbgrad.gradcheck.noise import Noise
from nbgrad.gradcheck.patterns import pattern_findings


@dataclass
class Diagnosis:
    """Diagnosis of one block: codes, the scale factor if any, findings, verdict."""

    codes: list[str]
    passed: bool
    scale: float | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    taylor: dict[str, Any] | None = None


def _coordinates(check: BlockCheck, name: str, mask: np.ndarray) -> np.ndarray:
    """Checked real coordinates of the elements in ``mask``, all parts concatenated."""
    return np.concatenate([getattr(part, name)[mask & part.checked] for part in check.parts])


def is_flat(check: BlockCheck) -> bool:
    """The cost did not move at all when any checked coordinate moved.

    One-sided changes, not the central difference: at a minimum the derivative
    is zero but the cost still changes (quadratically), which is not flat.
    """
    tested = check.checked
    if not tested.any():
        return False
    return not bool(np.any(_coordinates(check, "moved", tested)))


def is_transposed(check: BlockCheck) -> bool:
    """The analytic block, with its two axes swapped, fits the numeric one (residual under 1 %)."""
    shape = check.block.shape
    if len(shape) != 2 or not check.checked.all() or min(shape) < 2:
        return False
    analytic = check.analytic.reshape(shape)
    numeric = check.numeric.reshape(shape)
    norm = float(np.linalg.norm(numeric))
    candidates = [analytic.T] if shape[0] == shape[1] else []
    candidates.append(analytic.reshape(shape[::-1]).T)
    return norm > 0 and any(
        float(np.linalg.norm(candidate - numeric)) < FIT_RESIDUAL * norm for candidate in candidates
    )


def is_conjugated(check: BlockCheck) -> bool:
    """A complex block whose analytic gradient is the conjugate of the numeric one."""
    if not check.block.is_complex or not check.checked.all():
        return False
    numeric = check.numeric
    norm = float(np.linalg.norm(numeric))
    return norm > 0 and float(np.linalg.norm(np.conj(check.analytic) - numeric)) < (
        FIT_RESIDUAL * norm
    )


def _kind_of_mismatch(check: BlockCheck) -> tuple[str, float | None, dict[str, Any]]:
    name = check.block.name
    flagged = check.flagged
    analytic = _coordinates(check, "analytic", flagged)
    numeric = _coordinates(check, "numeric", flagged)
    n = int(flagged.sum())
    if not np.all(np.isfinite(analytic)):
        bad = np.flatnonzero(flagged & ~np.isfinite(check.analytic))
        return (
            "mismatch",
            None,
            finding(
                name,
                "nonfinite_analytic",
                1.0,
                f"{name}: the analytic gradient is NaN or infinite at {bad.size} element(s) "
                f"(first: {check.block.label(int(bad[0]))}) — an overflow, a log of 0 or a "
                "division by zero in the backward pass",
                elements=[int(i) for i in bad[:10]],
            ),
        )
    if is_conjugated(check):
        return (
            "mismatch",
            None,
            finding(
                name,
                "conjugate",
                0.9,
                f"{name}: the analytic gradient is the complex conjugate of the numeric one. "
                "nbgrad reports dC/dRe z + i·dC/dIm z for a real cost C; your gradient uses "
                "the other convention (∂C/∂z) — conjugate it",
            ),
        )
    if np.all(analytic == 0):
        return (
            "zero_analytic",
            None,
            finding(
                name,
                "zero_analytic",
                0.95,
                f"{name}: the analytic gradient is exactly 0 at {n} element(s) where the cost "
                "changes — is this gradient ever computed or written back?",
            ),
        )
    if is_transposed(check):
        return (
            "transpose",
            None,
            finding(
                name,
                "transpose",
                0.9,
                f"{name}: the analytic gradient matches the numeric one with its axes swapped — "
                "transpose it (an outer product taken in the wrong order?)",
            ),
        )
    c, residual = fit_scale(analytic, numeric)
    if residual < FIT_RESIDUAL and n >= 1 and abs(c + 1) < FIT_RESIDUAL:
        return (
            "sign_flip",
            -1.0,
            finding(
                name,
                "sign_flip",
                1 - residual / FIT_RESIDUAL,
                f"{name}: analytic ≈ −numeric at {n} element(s) — the sign of this gradient is "
                "flipped (a − that should be +, or y − ŷ instead of ŷ − y)",
                c=c,
                residual=residual,
            ),
        )
    if residual < FIT_RESIDUAL and n >= 2 and explains_scale(c, residual):
        return (
            "scale",
            c,
            finding(
                name,
                "scale",
                1 - residual / FIT_RESIDUAL,
                f"{name}: analytic ≈ {c:.4g} × numeric at {n} element(s) — {_scale_hint(c)}",
                c=c,
                residual=residual,
            ),
        )
    return (
        "mismatch",
        None,
        finding(
            name,
            "mismatch",
            _exceedance(check),
            f"{name}: {n} element(s) disagree with the numeric gradient, with no simple "
            "relation (scale, sign, transpose) between the two",
        ),
    )


def _scale_hint(c: float) -> str:
    for value, words in ((abs(c), "too large"), (1 / abs(c), "too small")):
        if round(value) >= 2 and abs(value - round(value)) < 1e-3 * value:
            return (
                f"a factor of {round(value)} {words}: a forgotten or doubled 1/m "
                f"(m = {round(value)}), a batch mean versus sum, or a 1/2 in the cost?"
            )
    return "the gradient is off by a constant factor: check constants such as 1/m, 1/2, λ"


def _exceedance(check: BlockCheck) -> float:
    """Confidence from how far the worst flagged element is beyond the tolerance (log scale)."""
    worst = float(np.max(check.rel_error[check.flagged]))
    if not math.isfinite(worst):
        return 1.0
    return 0.5 + 0.5 * min(1.0, math.log10(max(worst / check.tolerance, 1.0)) / 3)


def _whole_block_finding(check: BlockCheck, code: str, c: float) -> dict[str, Any]:
    name = check.block.name
    directions = len(check.directions.failed) if check.directions else 0
    if code == "zero_analytic":
        message = (
            f"{name}: the analytic gradient is zero in every tested direction — never filled in?"
        )
    elif code == "sign_flip":
        message = f"{name}: analytic ≈ −numeric in every tested direction — the sign is flipped"
    else:
        message = (
            f"{name}: analytic ≈ {c:.4g} × numeric in every tested direction — {_scale_hint(c)}"
        )
    return finding(
        name,
        code,
        0.9,
        f"{message} (fast mode: inferred for the whole block from {directions} random "
        "directions and confirmed on its largest elements)",
        c=c,
        directions=directions,
    )


def _unlocalised_finding(check: BlockCheck) -> dict[str, Any]:
    directions = check.directions
    assert directions is not None
    ranges = directions.unlocalised
    if directions.stopped:
        wrong = int(check.flagged.sum())
        why = (
            f"errors are everywhere, so the search stopped; of {directions.sampled} elements "
            f"drawn at random from those ranges and checked one by one, {wrong} are wrong"
        )
    else:
        why = "their halves passed separately (errors below the tolerance per half)"
    return finding(
        check.block.name,
        "unlocalised",
        0.6,
        f"{check.block.name}: {len(ranges)} range(s) of coordinates fail as a group but were not "
        f"narrowed down to elements: {why} — run mode='full' on this block",
        ranges=[[int(lo), int(hi)] for lo, hi in ranges[:20]],
    )


def diagnose_block(check: BlockCheck, theta: np.ndarray, noise: Noise) -> Diagnosis:
    """Codes, verdict and findings for one block (``theta``: host copy of its values)."""
    name = check.block.name
    directions = check.directions
    codes: list[str] = []
    findings: list[dict[str, Any]] = []
    scale = None
    flat = is_flat(check) or bool(directions and directions.flat)
    if flat:
        codes.append("flat")
        findings.append(
            finding(
                name,
                "flat",
                0.95,
                f"the cost does not change with {name}: its numeric gradient is zero to within "
                "rounding everywhere, so nothing can train it (a saturated or sign-like output, "
                "e.g. the cosine of two scalars, is constant)",
            )
        )
    whole = directions.whole_block if directions else None
    if whole is not None:
        codes.append(whole[0])
        scale = whole[1] if whole[0] in ("scale", "sign_flip") else None
        findings.append(_whole_block_finding(check, *whole))
    elif check.flagged.any():
        code, scale, explanation = _kind_of_mismatch(check)
        codes.append(code)
        # Patterns compare analytic with numeric values; a flat cost's numeric ones are all 0,
        # so "analytic − numeric ∝ θ" would merely restate the analytic gradient.
        patterns = [] if flat else pattern_findings(check, theta)
        # A pattern names the bug more precisely than "mismatch": it goes first.
        specific_first = code == "mismatch"
        findings.extend([*patterns, explanation] if specific_first else [explanation, *patterns])
    unlocalised = bool(directions and directions.unlocalised)
    if unlocalised:
        if "mismatch" not in codes:
            codes.append("mismatch")
        findings.append(_unlocalised_finding(check))
    if directions and directions.rounding_limited:
        findings.append(_rounding_limited_finding(check))
    if check.unresolved.any():
        findings.append(_unresolved_finding(check))
    if check.kink.any():
        codes.append("nondifferentiable")
        n = int(check.kink.sum())
        findings.append(
            finding(
                name,
                "nondifferentiable",
                0.8,
                f"{name}: {n} element(s) sit on a kink (ReLU/abs/max at exactly the switching "
                "point): the one-sided slopes differ and the analytic value lies between them, "
                "so they are not counted as errors",
                elements=[check.block.label(i) for i in np.flatnonzero(check.kink)[:10]],
            )
        )
    if noise.noisy:
        codes.append("noisy")
    passed = not (flat or check.flagged.any() or unlocalised or noise.too_noisy)
    if passed and directions is not None:
        findings.append(_fast_sensitivity(check))
    return Diagnosis(codes=codes or ["ok"], passed=passed, scale=scale, findings=findings)


def _rounding_limited_finding(check: BlockCheck) -> dict[str, Any]:
    """Fast mode saw a disagreement no larger than the cost's rounding, and no half of it."""
    ranges = check.directions.rounding_limited
    dtype = check.block.dtype.name
    return finding(
        check.block.name,
        "rounding_limited",
        0.6,
        f"{check.block.name}: {len(ranges)} range(s) of coordinates missed the tolerance along "
        f"a random direction by no more than the cost's own rounding (a {dtype} forward pass "
        "rounds by several units in the last place), and both halves of each agreed with "
        "the analytic gradient — not counted as wrong; mode='full' checks every element",
        ranges=[[int(lo), int(hi)] for lo, hi in ranges[:20]],
    )


def _unresolved_finding(check: BlockCheck) -> dict[str, Any]:
    """Elements whose finite differences rounding scattered wider than the tolerance."""
    unresolved = np.flatnonzero(check.unresolved)
    name = check.block.name
    return finding(
        name,
        "unresolved",
        0.6,
        f"{name}: {unresolved.size} element(s) could not be checked to the tolerance "
        f"{check.tolerance:.1g}: their finite differences at different steps scatter by more "
        f"than that (a {check.block.dtype.name} cost rounds by several units in the last "
        "place) and the analytic value lies within the scatter — not counted as wrong; "
        "compute the cost in higher precision to check them",
        elements=[check.block.label(int(i)) for i in unresolved[:10]],
    )


def _fast_sensitivity(check: BlockCheck) -> dict[str, Any]:
    """What a passing fast-mode verdict does and does not rule out."""
    name = check.block.name
    smallest = check.tolerance * float(
        np.sqrt(sum(float(part.analytic @ part.analytic) for part in check.parts))
    )
    failed = check.directions.failed if check.directions else []
    agreed = f"{len(failed)}" if not any(failed) else f"{failed.count(False)} of {len(failed)}"
    return finding(
        name,
        "fast_sensitivity",
        0.9,
        f"{name}: {agreed} random directional derivatives agree with the analytic "
        f"gradient; an error in a single element would have shown if larger than about "
        f"{smallest:.1g} (tolerance × ‖gradient‖) — mode='full' checks every element",
        smallest_detectable=smallest,
    )
