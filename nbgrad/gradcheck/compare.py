"""Relative error between analytic and numeric derivatives, robust where both are about zero.

``|a − n| / max(|a|, |n|)`` is the natural measure, but it explodes where the
true derivative is zero: the numeric estimate is then pure rounding error and
any analytic value, even an exact 0, looks 100 % wrong.  The denominator gets
a *floor* tied to what the finite difference can resolve:

    floor_i = ε·|f| / (h_i · tol)

``ε·|f|`` is the cost's absolute precision (machine epsilon, or the measured
noise, times the size of the cost near the point); dividing by ``h_i`` gives
the rounding error of the derivative estimate, and dividing by the tolerance
makes that error count as exactly "at the threshold".  So derivatives larger
than the floor are judged relatively, and derivatives below it (where the cost
cannot tell them apart from zero at this precision) are judged against the
floor, i.e. absolutely.  A derivative that is numerically zero while the
analytic one is clearly not still fails: ``|a|`` then dominates everything.

References: the floor follows the rounding error of a difference quotient,
Higham, *Accuracy and Stability of Numerical Algorithms* (2002), §1.

>>> float(relative_error(np.array([0.0]), np.array([1e-12]), np.array([1e-6]))[0])
1e-06
>>> fit_scale(np.array([2.0, 4.0]), np.array([1.0, 2.0]))
(2.0, 0.0)
"""

from __future__ import annotations

import math

import numpy as np


def resolution_floor(eps: float, cost_size: np.ndarray, step: np.ndarray, tol: float) -> np.ndarray:
    """The smallest derivative whose relative error can be judged at tolerance ``tol``."""
    return eps * cost_size / (step * tol)


def relative_error(analytic: np.ndarray, numeric: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """``|a − n| / max(|a|, |n|, floor)``; 0 where both are equal, inf where either is NaN/inf."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        difference = np.abs(analytic - numeric)
        scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
        error = np.where(difference == 0, 0.0, difference / scale)
    return np.where(np.isfinite(error), error, np.inf)


#: Largest relative residual of ``a − c·n`` for which a scale (or sign) explains a mismatch.
FIT_RESIDUAL = 0.01


def explains_scale(c: float, residual: float) -> bool:
    """A fitted factor names a bug only when it stands out from the fit's own residual.

    Small scattered errors (a cost computed in lower precision than the
    tolerance assumed) fit ``a ≈ c·n`` with a tiny residual and ``c`` just as
    close to 1; "analytic ≈ 1 × numeric" would send the user hunting for a
    1/m that is not missing.  A real constant factor moves ``c`` far more than
    it leaves behind in the residual.
    """
    return math.isfinite(c) and c != 0 and abs(c - 1) > 10 * residual


def fit_scale(analytic: np.ndarray, numeric: np.ndarray) -> tuple[float, float]:
    """Least-squares ``c`` in ``a ≈ c·n`` and the relative residual ``‖a − c·n‖ / ‖a‖``."""
    norm_n = float(numeric @ numeric)
    norm_a = float(np.sqrt(analytic @ analytic))
    if norm_n == 0 or norm_a == 0:
        return math.nan, math.inf
    c = float(analytic @ numeric) / norm_n
    return c, float(np.linalg.norm(analytic - c * numeric)) / norm_a


def is_sign_flip(c: float, residual: float) -> bool:
    """``c`` is −1 to within what the fit can tell (−1.008 is a scale, not a flipped sign)."""
    return math.isfinite(c) and abs(c + 1) <= 10 * residual + 1e-6
