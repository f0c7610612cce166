"""What kind of wrong: one table of rules, most specific first, each resting on shown evidence.

A mismatch alone sends the user back to staring at their backprop.  Most
hand-written gradient bugs leave a fingerprint in the difference
``d = analytic − numeric`` of a block, so every failing block is run through
:data:`RULES` in order and the first rule that matches names the bug.  A rule
is *detect → match*: the match carries the evidence it rests on (which
elements, the fitted factor, the residual) in ``details``, the message in
plain words, and a confidence computed from that evidence — the share of the
wrong elements it explains, times how cleanly it explains them (fit residual
against :data:`~nbgrad.gradcheck.compare.FIT_RESIDUAL`), times how far the
wrong elements are beyond the tolerance.  A rule speaks only about the elements
it was computed on: "at k element(s)", never "every element" from a sample.

The rules, most specific first:

- ``nonfinite_analytic``: NaN or ±inf in the analytic gradient;
- ``conjugate``: a complex gradient in the ∂C/∂z convention;
- ``zero_analytic``: every wrong element's analytic value is exactly 0;
- ``clipped``: every wrong analytic value is ±one constant, every right one
  smaller ("clipped at 5.0");
- ``transpose``: the analytic block with its axes swapped fits;
- ``one_per_row``: exactly one wrong element per row, at a different column
  in each, all off by the same amount (the −1 at the true class missing from a
  softmax gradient);
- ``scale`` (or ``sign_flip``) on the data term: ``a ≈ c·n + k·θ`` over the
  block, i.e. the part not explained by a regulariser ``λθ`` (``λ = k / (1 − c)``,
  right in both) is off by ``c`` — a forgotten ``1/m`` with an L2 term present;
- ``sign_flip`` / ``scale``: ``a ≈ c·n`` on the wrong elements;
- ``regulariser``: ``d ∝ θ`` — the gradient's ``λθ`` term has the wrong
  factor, or covers a bias row/column the cost leaves out (seed 003);
- ``column_scale`` / ``row_scale``: each wrong column is off by its own
  factor (an activation derivative at the wrong pre-activation, seed 001);
- ``mismatch``: none of these.

Where-rules add a second finding to any of them: ``one_row``/``one_column``,
``isolated`` elements, and ``fortran_order`` (a flat vector whose wrong
elements form a whole column only when read in Fortran order).  Elements that
are zero by construction (masks, dead units: analytic and numeric both 0) are
never wrong, and kinks and rounding-scattered elements have no verdict.

References: the fingerprints are those of the bug classes catalogued for
hand-written backprop in CS231n's "gradient checks" notes and Ng's ex4
(``checkNNGradients``); the least-squares fits are ordinary linear regression.

>>> fit_scale_and_decay(np.array([3.0, 5.0]), np.array([1.0, 2.0]), np.array([1.0, 0.0]))
(2.5, 0.5, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbgrad.gradcheck.checks import BlockCheck
from nbgrad.gradcheck.compare import FIT_RESIDUAL, explains_scale, fit_scale, is_sign_flip
from nbgrad.gradcheck.heatmap import layout
from nbgrad.gradcheck.noise import Noise

# --- codes: block diagnoses (the schema's "diagnosis" enum) ---------------------------------
OK = "ok"
MISMATCH = "mismatch"
SIGN_FLIP = "sign_flip"
SCALE = "scale"
TRANSPOSE = "transpose"
ZERO_ANALYTIC = "zero_analytic"
FLAT = "flat"
NONDIFFERENTIABLE = "nondifferentiable"
NOISY = "noisy"
DRIFT = "drift"
NONFINITE_ANALYTIC = "nonfinite_analytic"
CONJUGATE = "conjugate"
CLIPPED = "clipped"
ONE_PER_ROW = "one_per_row"
REGULARISER = "regulariser"
COLUMN_SCALE = "column_scale"
ROW_SCALE = "row_scale"

#: Every code a block's ``diagnoses`` may hold (tests hold it equal to the schema's enum).
DIAGNOSES = (
    OK, MISMATCH, SIGN_FLIP, SCALE, TRANSPOSE, ZERO_ANALYTIC, FLAT, NONDIFFERENTIABLE, NOISY,
    DRIFT, NONFINITE_ANALYTIC, CONJUGATE, CLIPPED, ONE_PER_ROW, REGULARISER, COLUMN_SCALE,
    ROW_SCALE,
)

# --- codes of findings that are not block diagnoses ------------------------------------------
ONE_ROW = "one_row"
ONE_COLUMN = "one_column"
ISOLATED = "isolated"
FORTRAN_ORDER = "fortran_order"
UNLOCALISED = "unlocalised"
ROUNDING_LIMITED = "rounding_limited"
UNRESOLVED = "unresolved"
FAST_SENSITIVITY = "fast_sensitivity"
FAST_PATTERN = "fast_pattern"

#: Correlation above which ``analytic − numeric`` counts as proportional to ``θ``.
PROPORTIONAL_R = 0.99
#: Fewest elements on which a proportionality or a per-row pattern is more than chance.
MIN_PATTERN = 3
#: At most this many scattered wrong elements are described as isolated.
MAX_ISOLATED = 3
#: Wrong values equal to this relative precision count as one constant (clipping, one per row).
SAME_VALUE = 1e-6


def finding(
    block: str | None, code: str, confidence: float, message: str, **details: Any
) -> dict[str, Any]:
    """One entry of the report's ``findings`` list (``confidence`` clipped to [0, 1])."""
    confidence = min(max(float(confidence), 0.0), 1.0) if math.isfinite(confidence) else 0.0
    return {
        "block": block,
        "code": code,
        "confidence": round(confidence, 3),
        "message": message,
        "details": details,
    }


@dataclass
class Diagnosis:
    """Diagnosis of one block: codes, the scale factor if any, findings, verdict."""

    codes: list[str]
    passed: bool
    scale: float | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    taylor: dict[str, Any] | None = None


@dataclass
class Match:
    """What a rule found: its code, words, evidence, and the confidence computed from them."""

    code: str
    message: str
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)
    scale: float | None = None


class Evidence:
    """One block's numbers as the rules read them: flat host arrays and the 2-D layout."""

    def __init__(self, check: BlockCheck, theta: np.ndarray) -> None:
        self.check = check
        self.block = check.block
        self.name = check.block.name
        self.theta = theta.reshape(-1)
        self.analytic = check.analytic
        self.numeric = check.numeric
        self.usable = check.checked & ~check.kink & ~check.unresolved
        self.flagged = check.flagged
        self.n = int(self.flagged.sum())
        self.complex = check.block.is_complex

    def grid(self, values: np.ndarray, order: str | None = None) -> np.ndarray:
        """``values`` in the block's 2-D layout (rows × last axis), read in ``order``."""
        shape = self.block.shape or (1,)
        rows, cols = layout(shape)
        order = order or self.block.order or "C"
        return np.reshape(np.reshape(values, shape, order=order), (rows, cols))

    def wrong(self, name: str) -> np.ndarray:
        return getattr(self, name)[self.flagged]

    def sureness(self) -> float:
        """How far the wrong elements are beyond the tolerance: 0.5 at it, 1 at 1000×."""
        errors = self.check.rel_error[self.flagged]
        worst = float(np.min(errors)) if errors.size else 0.0
        if not math.isfinite(worst):
            return 1.0
        return 0.5 + 0.5 * min(1.0, math.log10(max(worst / self.check.tolerance, 1.0)) / 3)


def _fit_quality(residual: float) -> float:
    return max(0.0, 1.0 - residual / FIT_RESIDUAL)


def fit_scale_and_decay(
    analytic: np.ndarray, numeric: np.ndarray, theta: np.ndarray
) -> tuple[float, float, float]:
    """Least squares ``a ≈ c·n + k·θ``: ``(c, k, relative residual ‖a − c·n − k·θ‖/‖a‖)``."""
    design = np.stack([numeric, theta], axis=1)
    norm = float(np.linalg.norm(analytic))
    if norm == 0 or np.linalg.matrix_rank(design) < 2:
        return math.nan, math.nan, math.inf
    (c, k), *_ = np.linalg.lstsq(design, analytic, rcond=None)
    residual = float(np.linalg.norm(analytic - c * numeric - k * theta)) / norm
    return round(float(c), 12), round(float(k), 12), round(residual, 12)


# --- kind rules ---------------------------------------------------------------------------


def _nonfinite(ev: Evidence) -> Match | None:
    bad = np.flatnonzero(~np.isfinite(ev.analytic))
    if not bad.size:
        return None
    return Match(
        NONFINITE_ANALYTIC,
        f"{ev.name}: the analytic gradient is NaN or infinite at {bad.size} element(s) "
        f"(first: {ev.block.label(int(bad[0]))}) — an overflow, a log of 0 or a division by "
        "zero in the backward pass",
        bad.size / max(ev.n, bad.size),
        {"elements": [int(i) for i in bad[:10]], "count": int(bad.size)},
    )


def _conjugate(ev: Evidence) -> Match | None:
    if not ev.complex or not ev.usable.all():
        return None
    norm = float(np.linalg.norm(ev.numeric))
    if norm == 0:
        return None
    residual = float(np.linalg.norm(np.conj(ev.analytic) - ev.numeric)) / norm
    if residual >= FIT_RESIDUAL:
        return None
    return Match(
        CONJUGATE,
        f"{ev.name}: the analytic gradient is the complex conjugate of the numeric one "
        f"(residual {residual:.1g}). nbgrad reports dC/dRe z + i·dC/dIm z for a real cost C; "
        "your gradient uses the other convention (∂C/∂z) — conjugate it",
        _fit_quality(residual),
        {"residual": residual},
    )


def _zero(ev: Evidence) -> Match | None:
    analytic = ev.wrong("analytic")
    zero = int(np.sum(analytic == 0))
    if zero != ev.n:
        return None
    return Match(
        ZERO_ANALYTIC,
        f"{ev.name}: the analytic gradient is exactly 0 at {ev.n} element(s) where the cost "
        "changes — is this gradient ever computed or written back?",
        ev.sureness(),
        {"elements": [int(i) for i in np.flatnonzero(ev.flagged)[:10]]},
    )


def _clipped(ev: Evidence) -> Match | None:
    if ev.n < 2 or ev.complex:
        return None
    analytic, numeric = np.abs(ev.wrong("analytic")), np.abs(ev.wrong("numeric"))
    bound = float(analytic.max())
    same = np.abs(analytic - bound) <= SAME_VALUE * bound
    right = ev.usable & ~ev.flagged
    inside = np.abs(ev.analytic[right]) <= bound * (1 + SAME_VALUE)
    if bound == 0 or not same.all() or not np.all(numeric > bound) or not inside.all():
        return None
    return Match(
        CLIPPED,
        f"{ev.name}: every wrong analytic value is ±{bound:.6g} ({ev.n} element(s), their "
        f"true derivatives larger in size, up to {float(numeric.max()):.3g}) and every right "
        f"one is smaller: the gradient is clipped at {bound:.6g} (np.clip or a max-norm "
        "applied before it is returned?)",
        ev.sureness(),
        {"bound": bound, "elements": [int(i) for i in np.flatnonzero(ev.flagged)[:10]]},
    )


def _transpose(ev: Evidence) -> Match | None:
    shape = ev.block.shape
    if len(shape) != 2 or not ev.usable.all() or min(shape) < 2:
        return None
    order = ev.block.order or "C"
    analytic = np.reshape(ev.analytic, shape, order=order)
    numeric = np.reshape(ev.numeric, shape, order=order)
    norm = float(np.linalg.norm(numeric))
    candidates = [analytic.T] if shape[0] == shape[1] else []
    candidates.append(analytic.reshape(shape[::-1]).T)
    if norm == 0:
        return None
    residual = min(float(np.linalg.norm(c - numeric)) / norm for c in candidates)
    if residual >= FIT_RESIDUAL:
        return None
    return Match(
        TRANSPOSE,
        f"{ev.name}: the analytic gradient matches the numeric one with its axes swapped "
        f"(residual {residual:.1g}) — transpose it (an outer product taken in the wrong "
        "order, or a gradient unrolled in the other order?)",
        _fit_quality(residual),
        {"residual": residual},
    )


def _one_per_row(ev: Evidence) -> Match | None:
    if ev.complex or ev.n < MIN_PATTERN:
        return None
    flagged = ev.grid(ev.flagged)
    rows, cols = flagged.shape
    where_rows, where_cols = np.nonzero(flagged)
    if cols < 2 or np.unique(where_rows).size != where_rows.size or np.unique(where_cols).size < 2:
        return None
    difference = ev.grid(ev.analytic - ev.numeric)[where_rows, where_cols]
    value = float(np.mean(difference))
    spread = float(np.max(np.abs(difference - value)))
    if value == 0 or spread > 1e-3 * abs(value):
        return None
    hint = _per_row_hint(value, rows)
    return Match(
        ONE_PER_ROW,
        f"{ev.name}: exactly one element per row is wrong ({where_rows.size} of {rows} rows), "
        f"at a different column in each, all by the same analytic − numeric = {value:+.4g}"
        f"{hint}",
        (where_rows.size / max(ev.n, 1)) * (1 - spread / (1e-3 * abs(value))) * ev.sureness(),
        {
            "value": value,
            "spread": spread,
            "elements": [[int(r), int(c)] for r, c in zip(where_rows[:20], where_cols[:20],
                                                          strict=True)],
        },
    )


def _per_row_hint(value: float, rows: int) -> str:
    for size, words in ((1.0, "1"), (1.0 / rows, f"1/N for N = {rows} rows")):
        if abs(abs(value) - size) <= 1e-6 * size:
            side = "missing" if value > 0 else "subtracted twice"
            return (
                f" (= {'+' if value > 0 else '−'}{words}): the −1 at the true class is {side} "
                "— a softmax/cross-entropy gradient needs dscores[range(N), y] −= 1 (before "
                "dividing by N)"
            )
    return " (a term added at one index per row, e.g. the label's, is wrong)"


def _scale(ev: Evidence) -> Match | None:
    if ev.n < 1 or ev.complex:
        return None
    analytic, numeric = ev.wrong("analytic"), ev.wrong("numeric")
    c, residual = fit_scale(analytic, numeric)
    if residual >= FIT_RESIDUAL:
        return None
    others = int((ev.usable & ~ev.flagged).sum())
    rest = f"; the other {others} checked element(s) agree" if others else ""
    if is_sign_flip(c, residual):
        return Match(
            SIGN_FLIP,
            f"{ev.name}: analytic ≈ −numeric at {ev.n} element(s) (residual {residual:.1g})"
            f"{rest} — the sign of this gradient is flipped (a − that should be +, or y − ŷ "
            "instead of ŷ − y)",
            _fit_quality(residual) * ev.sureness(),
            {"c": c, "residual": residual, "elements": ev.n},
            scale=-1.0,
        )
    if ev.n < 2 or not explains_scale(c, residual):
        return None
    return Match(
        SCALE,
        f"{ev.name}: analytic ≈ {c:.4g} × numeric at {ev.n} element(s) (residual "
        f"{residual:.1g}){rest} — {_scale_hint(c)}",
        _fit_quality(residual) * ev.sureness(),
        {"c": c, "residual": residual, "elements": ev.n},
        scale=c,
    )


def _decay_candidates(ev: Evidence) -> list[tuple[str, np.ndarray]]:
    """θ as the regulariser sees it: all of it, or without the bias column/row of a 2-D block."""
    found = [("", ev.theta)]
    if len(ev.block.shape) == 2 and min(ev.block.shape) >= 2:
        for where, index in ((" (bias column 0 left out)", np.s_[:, 0]),
                             (" (bias row 0 left out)", np.s_[0, :])):
            order = ev.block.order or "C"
            masked = np.reshape(ev.theta, ev.block.shape, order=order).copy()
            masked[index] = 0
            found.append((where, np.reshape(masked, -1, order=order)))
    return found


def _scale_besides_regulariser(ev: Evidence) -> Match | None:
    """``a ≈ c·n + k·θ``: the data term scaled by ``c`` and a regulariser ``λθ`` right in both."""
    if ev.complex or not ev.usable.all() or ev.usable.sum() < MIN_PATTERN:
        return None
    best = None
    for where, theta in _decay_candidates(ev):
        c, k, residual = fit_scale_and_decay(ev.analytic, ev.numeric, theta)
        if best is None or residual < best[2]:
            best = (c, k, residual, where, theta)
    c, k, residual, where, theta = best
    norm = float(np.linalg.norm(ev.analytic))
    decay = abs(k) * float(np.linalg.norm(theta)) / norm if norm else 0.0
    if not (residual < FIT_RESIDUAL and explains_scale(c, residual) and decay > FIT_RESIDUAL):
        return None
    lam = k / (1 - c)
    if lam <= 0:
        return None
    if is_sign_flip(c, residual):
        return Match(
            SIGN_FLIP,
            f"{ev.name}: analytic ≈ −(numeric − λθ) + λθ with λ = {lam:.4g}{where} over all "
            f"{ev.usable.sum()} element(s) (residual {residual:.1g}): the sign of the data "
            "term is flipped while the regularisation term λθ is right (y − ŷ instead of "
            "ŷ − y?)",
            _fit_quality(residual) * ev.sureness(),
            {"c": c, "lambda": lam, "residual": residual},
            scale=-1.0,
        )
    return Match(
        SCALE,
        f"{ev.name}: analytic ≈ {c:.4g} × (numeric − λθ) + λθ with λ = {lam:.4g}{where} over "
        f"all {ev.usable.sum()} element(s) (residual {residual:.1g}): the data term is off "
        f"by {c:.4g} once the regularisation term λθ, right in both, is set aside — "
        f"{_scale_hint(c)}",
        _fit_quality(residual) * ev.sureness(),
        {"c": c, "lambda": lam, "residual": residual, "regularised": where.strip(" ()") or "all"},
        scale=c,
    )


def _regulariser(ev: Evidence) -> Match | None:
    if ev.n < MIN_PATTERN:
        return None
    difference = ev.wrong("analytic") - ev.wrong("numeric")
    theta = ev.theta[ev.flagged]
    norm_t, norm_d = float(np.linalg.norm(theta)), float(np.linalg.norm(difference))
    if norm_t == 0 or norm_d == 0:
        return None
    inner = np.vdot(theta, difference)
    r = float(abs(inner) / (norm_t * norm_d))
    if r < PROPORTIONAL_R:
        return None
    k = inner / norm_t**2
    k = float(k.real) if np.isreal(k) else complex(k)
    region = _region(ev)
    where = region["where"] if region else ev.name
    details: dict[str, Any] = {"r": round(r, 4), "factor": _jsonable(k), "elements": ev.n}
    if region:
        details.update(axis=region["axis"], index=region["index"])
    return Match(
        REGULARISER,
        f"{where}: analytic − numeric = k·θ at {ev.n} element(s) (k = {k:.4g}, r = {r:.3f}): "
        f"{_regulariser_hint(k, region)}",
        (r - PROPORTIONAL_R) / (1 - PROPORTIONAL_R) * ev.sureness(),
        details,
    )


def _regulariser_hint(k: complex | float, region: dict[str, Any] | None) -> str:
    if isinstance(k, float) and k < 0:
        side = (
            f"the gradient's λθ term is smaller than the cost's by {-k:.4g}·θ — missing, or "
            "with the wrong factor (half of it: the derivative of λ/(2m)·Σθ² is λ/m·θ)"
        )
    elif isinstance(k, float):
        side = (
            f"the gradient's λθ term is larger than the cost's by {k:.4g}·θ — a term the cost "
            "does not have, or a doubled factor"
        )
    else:
        side = "a term linear in the parameters differs between cost and gradient"
    if region is not None and region["index"] == 0:
        return f"the regularisation treats the bias {region['axis']} differently ({side})"
    return f"a regulariser with the wrong factor: {side}"


def _line_scale(ev: Evidence) -> Match | None:
    """Every wrong column (or row) is off by its own factor: a per-unit term is wrong."""
    if ev.complex or not ev.usable.all() or len(ev.block.shape) < 2:
        return None
    analytic, numeric, flagged = ev.grid(ev.analytic), ev.grid(ev.numeric), ev.grid(ev.flagged)
    rows, cols = flagged.shape
    if rows < 2 or cols < 2:
        return None
    floor = ev.grid(ev.check.floor * ev.check.tolerance)
    resolvable = np.abs(numeric) > floor
    for axis, code in ((1, COLUMN_SCALE), (0, ROW_SCALE)):
        lines = np.flatnonzero(flagged.any(axis=1 - axis))
        spoilt = np.all(flagged | ~resolvable, axis=1 - axis)[lines]
        if lines.size < 2 or not spoilt.all():
            continue
        a, n = (analytic.T, numeric.T) if axis == 1 else (analytic, numeric)
        fits = [fit_scale(a[j], n[j]) for j in lines]
        factors = [c for c, _ in fits]
        worst = max(residual for _, residual in fits)
        if worst >= FIT_RESIDUAL or not all(map(math.isfinite, factors)):
            continue
        if max(factors) - min(factors) <= FIT_RESIDUAL * max(map(abs, factors)):
            continue
        line = code.split("_")[0]
        return Match(
            code,
            f"{ev.name}: each wrong {line} is off by its own factor (analytic ≈ c × numeric "
            f"per {line}, c from {min(factors):.3g} to {max(factors):.3g}, residual "
            f"{worst:.1g}): the per-unit factor of each {line} is wrong — typically an "
            "activation derivative σ'(z) taken at the wrong pre-activation, or a "
            "missing/extra per-unit term",
            _fit_quality(worst) * ev.sureness(),
            {"axis": line, "lines": [int(j) for j in lines[:50]],
             "factors": [float(c) for c in factors[:50]]},
        )
    return None


def _mismatch(ev: Evidence) -> Match:
    checked = int(ev.check.checked.sum())
    of = f"{checked} checked" if checked < ev.block.size else f"{ev.block.size}"
    return Match(
        MISMATCH,
        f"{ev.name}: {ev.n} of {of} element(s) disagree with the numeric gradient, with no "
        "simple relation (scale, sign, transpose, regulariser, clipping) between the two",
        ev.sureness(),
        {"elements": ev.n, "checked": checked},
    )


@dataclass(frozen=True)
class Rule:
    """One line of the table: the code it names and how it is detected."""

    code: str
    detect: Callable[[Evidence], Match | None]


#: What kind of wrong, most specific first; the first match names the block's bug.
RULES: tuple[Rule, ...] = (
    Rule(NONFINITE_ANALYTIC, _nonfinite),
    Rule(CONJUGATE, _conjugate),
    Rule(ZERO_ANALYTIC, _zero),
    Rule(CLIPPED, _clipped),
    Rule(TRANSPOSE, _transpose),
    Rule(ONE_PER_ROW, _one_per_row),
    Rule(SCALE, _scale_besides_regulariser),
    Rule(SCALE, _scale),
    Rule(REGULARISER, _regulariser),
    Rule(COLUMN_SCALE, _line_scale),
)


# --- where rules ---------------------------------------------------------------------------


def _region(ev: Evidence, order: str | None = None) -> dict[str, Any] | None:
    """The single row or column holding every flagged element (at least two), if there is one."""
    flagged = ev.grid(ev.flagged, order)
    rows, cols = flagged.shape
    where_rows, where_cols = np.nonzero(flagged)
    if rows < 2 or cols < 2 or where_rows.size < 2:
        return None
    two_d = len(ev.block.shape) == 2
    if np.unique(where_cols).size == 1:
        j = int(where_cols[0])
        where = f"{ev.name}[:, {j}]" if two_d else f"{ev.name}[..., {j}]"
        return {"axis": "column", "index": j, "whole": bool(flagged[:, j].all()), "where": where}
    if np.unique(where_rows).size == 1:
        i = int(where_rows[0])
        where = f"{ev.name}[{i}, :]" if two_d else f"{ev.name} (row {i} of {rows}×{cols})"
        return {"axis": "row", "index": i, "whole": bool(flagged[i, :].all()), "where": where}
    return None


def _fortran_order(ev: Evidence) -> dict[str, Any] | None:
    """A flat vector read in C order whose wrong elements are a whole line in Fortran order."""
    if ev.block.order != "C" or len(ev.block.shape) != 2:
        return None
    here, there = _region(ev), _region(ev, "F")
    if there is None or not there["whole"] or (here is not None and here["whole"]):
        return None
    return finding(
        ev.name,
        FORTRAN_ORDER,
        ev.sureness(),
        f"{ev.name}: read in Fortran order (column by column, as Octave's Theta(:) unrolls a "
        f"matrix), the {ev.n} wrong element(s) are exactly {there['axis']} {there['index']} "
        f"of {ev.name}; read in C order they are not one whole row or column — if your vector "
        "is unrolled column by column, pass order='F' with blocks=",
        axis=there["axis"],
        index=there["index"],
    )


def _where_findings(ev: Evidence) -> list[dict[str, Any]]:
    fortran = _fortran_order(ev)
    if fortran is not None:
        return [fortran]
    region = _region(ev)
    if region is not None:
        extent = "every element" if region["whole"] else f"{ev.n} element(s)"
        share = ev.n / max(int(ev.grid(ev.usable)[_line(region)].sum()), 1)
        return [finding(
            ev.name,
            ONE_ROW if region["axis"] == "row" else ONE_COLUMN,
            share * ev.sureness(),
            f"{region['where']}: {extent} of {region['axis']} {region['index']} wrong, the rest "
            f"of {ev.name} right — look at how this {region['axis']} is treated differently (a "
            "bias term, an edge of a loop, an off-by-one slice)",
            axis=region["axis"],
            index=region["index"],
            whole=region["whole"],
        )]
    wrong = np.flatnonzero(ev.flagged)
    if 0 < wrong.size <= min(MAX_ISOLATED, ev.block.size // 4):
        labels = ", ".join(ev.block.label(int(i)) for i in wrong)
        right = int((ev.usable & ~ev.flagged).sum())
        return [finding(
            ev.name,
            ISOLATED,
            ev.sureness() * right / max(right + wrong.size, 1),
            f"{labels}: isolated wrong element(s) among {right} checked right ones — an "
            "indexing slip (off-by-one, a wrong slice) or a special case (first/last time "
            "step, an edge) in the gradient code?",
            elements=[int(i) for i in wrong],
        )]
    return []


def _line(region: dict[str, Any]) -> Any:
    return np.s_[:, region["index"]] if region["axis"] == "column" else np.s_[region["index"], :]


def _scale_hint(c: float) -> str:
    for value, words in ((abs(c), "too large"), (1 / abs(c), "too small")):
        if round(value) >= 2 and abs(value - round(value)) < 1e-3 * value:
            return (
                f"a factor of {round(value)} {words}: a forgotten or doubled 1/m "
                f"(m = {round(value)}), a batch mean versus sum, or a 1/2 in the cost?"
            )
    return "the gradient is off by a constant factor: check constants such as 1/m, 1/2, λ"


def _jsonable(k: complex | float) -> Any:
    return [k.real, k.imag] if isinstance(k, complex) else k


def direction_pattern(
    analytic: list[float], numeric: list[float], failed: list[bool]
) -> tuple[str, float] | None:
    """Fast mode's hypothesis: every random direction failed alike, ``A ≈ c·D``.

    ``(code, c)`` with code ``zero_analytic``, ``sign_flip`` or ``scale`` when at
    least two directions failed and their discrepancies fit ``(c − 1)·D``; it is
    only a hypothesis: the elements checked one by one decide what is claimed
    (:func:`diagnose_block`, finding ``fast_pattern``).

    >>> direction_pattern([2.0, -4.0], [1.0, -2.0], [True, True])
    ('scale', 2.0)
    """
    if len(failed) < 2 or not all(failed):
        return None
    a, d = np.array(analytic), np.array(numeric)
    if np.all(a == 0):
        return ZERO_ANALYTIC, 0.0
    k, residual = fit_scale(a - d, d)
    if residual >= FIT_RESIDUAL:
        return None
    c = 1.0 + k
    return (SIGN_FLIP, -1.0) if is_sign_flip(c, residual) else (SCALE, c)


def kind_of_mismatch(ev: Evidence) -> tuple[Match, list[dict[str, Any]]]:
    """The first rule of :data:`RULES` that matches (or ``mismatch``) and the where-findings."""
    match = next((m for m in (rule.detect(ev) for rule in RULES) if m is not None), None)
    match = match or _mismatch(ev)
    return match, _where_findings(ev)


# --- the block's verdict --------------------------------------------------------------------


def is_flat(check: BlockCheck) -> bool:
    """The cost did not move at all when any checked coordinate moved.

    One-sided changes, not the central difference: at a minimum the derivative
    is zero but the cost still changes (quadratically), which is not flat.
    """
    tested = check.checked
    if not tested.any():
        return False
    moved = np.concatenate([part.moved[tested & part.checked] for part in check.parts])
    return not bool(np.any(moved))


def diagnose_block(check: BlockCheck, theta: np.ndarray, noise: Noise) -> Diagnosis:
    """Codes, verdict and findings for one block (``theta``: host copy of its values)."""
    name = check.block.name
    directions = check.directions
    codes: list[str] = []
    findings: list[dict[str, Any]] = []
    scale = None
    if noise.drift:
        codes.append(DRIFT)
    # Fast mode checks a sample of elements one by one: flatness is the directions' to claim.
    flat = not noise.drift and (directions.flat if directions is not None else is_flat(check))
    if flat:
        codes.append(FLAT)
        findings.append(_flat_finding(check))
    if check.flagged.any():
        ev = Evidence(check, theta)
        match, where = kind_of_mismatch(ev)
        if flat and match.code == REGULARISER:  # numeric 0 everywhere: d ∝ θ restates a
            match = _mismatch(ev)
        codes.append(match.code)
        scale = match.scale
        lead = finding(name, match.code, match.confidence, match.message, **match.details)
        # A where-finding names the bug more precisely than "mismatch": it goes first.
        findings.extend([*where, lead] if match.code == MISMATCH else [lead, *where])
        if directions is not None and directions.whole_block is not None:
            findings.append(_fast_pattern_finding(check, match))
    unlocalised = bool(directions and directions.unlocalised)
    if unlocalised:
        if MISMATCH not in codes and not check.flagged.any():
            codes.append(MISMATCH)
        findings.append(_unlocalised_finding(check))
    if directions and directions.rounding_limited:
        findings.append(_rounding_limited_finding(check))
    if check.unresolved.any():
        findings.append(_unresolved_finding(check))
    if check.kink.any():
        codes.append(NONDIFFERENTIABLE)
        findings.append(_kink_finding(check))
    if noise.noisy and not noise.drift:
        codes.append(NOISY)
    passed = not (flat or check.flagged.any() or unlocalised or noise.too_noisy or noise.drift)
    if passed and directions is not None:
        findings.append(_fast_sensitivity(check))
    return Diagnosis(codes=codes or [OK], passed=passed, scale=scale, findings=findings)


def _flat_finding(check: BlockCheck) -> dict[str, Any]:
    name = check.block.name
    moved = int(check.checked.sum()) if check.directions is None else len(check.directions.failed)
    what = "element(s)" if check.directions is None else "random direction(s)"
    return finding(
        name,
        FLAT,
        1 - 1 / (1 + moved),
        f"the cost does not change with {name}: its numeric gradient is zero to within "
        f"rounding along all {moved} {what} tried, so nothing can train it (a saturated or "
        "sign-like output, e.g. the cosine of two scalars, is constant)",
        tried=moved,
    )


def _kink_finding(check: BlockCheck) -> dict[str, Any]:
    name = check.block.name
    kinks = np.flatnonzero(check.kink)
    checked = int(check.checked.sum())
    return finding(
        name,
        NONDIFFERENTIABLE,
        kinks.size / max(checked, 1) * 0.5 + 0.5,
        f"{name}: {kinks.size} element(s) sit on a kink (ReLU/abs/max at exactly the switching "
        "point, or tied maxima): the one-sided slopes differ and the analytic value lies "
        "between them, so they are not counted as errors",
        elements=[check.block.label(int(i)) for i in kinks[:10]],
    )


def _fast_pattern_finding(check: BlockCheck, match: Match) -> dict[str, Any]:
    """Fast mode saw every direction fail alike; what the elements checked one by one say."""
    directions = check.directions
    code, c = directions.whole_block
    checked = int(check.checked.sum())
    agrees = match.code == code and (match.scale is None or abs(match.scale - c) <= 1e-2 * abs(c))
    verdict = "agree" if agrees else f"say {match.code} instead"
    return finding(
        check.block.name,
        FAST_PATTERN,
        (1.0 if agrees else 0.3) * checked / (checked + 1),
        f"{check.block.name}: all {len(directions.failed)} random directions fail alike "
        f"(analytic ≈ {c:.4g} × numeric along each); the {checked} element(s) checked one by "
        f"one {verdict} — fast mode does not check the other {check.block.size - checked}, "
        "so it claims nothing about them (mode='full' does)",
        c=c,
        directions=len(directions.failed),
        checked=checked,
    )


def _unlocalised_finding(check: BlockCheck) -> dict[str, Any]:
    directions = check.directions
    ranges = directions.unlocalised
    if directions.stopped:
        wrong = int(check.flagged.sum())
        why = (
            f"failing ranges are everywhere, so the search stopped; of {directions.sampled} "
            f"elements drawn at random from those ranges and checked one by one, {wrong} are "
            "wrong"
        )
    else:
        why = "their halves passed separately (errors below the tolerance per half)"
    total = sum(hi - lo for lo, hi in ranges)
    return finding(
        check.block.name,
        UNLOCALISED,
        1 - 1 / (1 + len(ranges)),
        f"{check.block.name}: {len(ranges)} range(s) of coordinates ({total} in all) fail as a "
        f"group but were not narrowed down to elements: {why} — run mode='full' on this block",
        ranges=[[int(lo), int(hi)] for lo, hi in ranges[:20]],
    )


def _rounding_limited_finding(check: BlockCheck) -> dict[str, Any]:
    """Fast mode saw a disagreement no larger than the cost's rounding, and no half of it."""
    ranges = check.directions.rounding_limited
    dtype = check.block.dtype.name
    return finding(
        check.block.name,
        ROUNDING_LIMITED,
        1 - 1 / (1 + len(ranges)),
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
        UNRESOLVED,
        unresolved.size / max(int(check.checked.sum()), 1),
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
    directions = check.directions
    failed = directions.failed if directions else []
    kinks = directions.kinks if directions else 0
    good = failed.count(False) - kinks
    agreed = f"{good}" if good == len(failed) else f"{good} of {len(failed)}"
    met = (
        f" ({kinks} more met a kink, so {directions.sampled} element(s) were checked one by "
        "one)" if kinks else ""
    )
    return finding(
        name,
        FAST_SENSITIVITY,
        good / (len(failed) + 1),
        f"{name}: {agreed} random directional derivatives agree with the analytic "
        f"gradient{met}; an error in a single element would have shown if larger than about "
        f"{smallest:.1g} (tolerance × ‖gradient‖) — mode='full' checks every element",
        smallest_detectable=smallest,
    )


def noise_finding(noise: Noise, tolerance: float) -> dict[str, Any]:
    """The cost is not reproducible at a fixed point: drift (first), or noise."""
    values = ", ".join(f"{v:.10g}" for v in noise.values)
    if noise.drift:
        return finding(
            None,
            DRIFT,
            noise.drift_confidence,
            f"the cost at the same point changed between calls ({noise.repeats + 1} calls at "
            f"the unchanged parameters gave {values}): your function writes into an array it "
            "reads (out = x; out[x < 0] = 0 changes x; a += inside the cost), or keeps state "
            "between calls — no gradient verdict is possible until each call starts from the "
            "same inputs (copy before writing: out = x.copy())",
            values=list(noise.values),
            kind=noise.drift,
        )
    measured = (
        f"the cost is not reproducible: {noise.repeats + 1} evaluations at the same point "
        f"differ by up to {noise.floor:.2g} ({noise.relative:.1g} of the cost) — "
        "nondeterministic reductions, dropout or sampling left on?"
    )
    if noise.too_noisy:
        verdict = (
            " That is too noisy to check a gradient by finite differences (the tolerance "
            f"would be {tolerance:.1g}), so the check fails: fix the seed, turn dropout off, "
            "or use a deterministic reduction, then check again"
        )
    else:
        verdict = (
            f" Steps and tolerance were widened to {tolerance:.1g} so that the noise is not "
            "reported as mismatches"
        )
    distinct = len(set(noise.values))
    return finding(
        None,
        NOISY,
        1 - 1 / distinct,
        measured + verdict,
        floor=noise.floor,
        relative=noise.relative if noise.relative != float("inf") else None,
        too_noisy=noise.too_noisy,
        values=list(noise.values),
    )
