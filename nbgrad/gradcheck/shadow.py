"""A float64 shadow for float32/float16 costs: tell rounding from a bug by asking float64.

A float16 or float32 cost rounds by many units in its last place, so its
finite differences scatter: an element can miss the tolerance by rounding
alone (it is then ``unresolved``, or, missing by more, flagged).  When the
cost *follows its parameters' dtype* — ``fun`` computes in whatever precision
it is given — the same ``fun`` evaluated on float64 copies of the parameters
is the same function computed precisely.  Its Richardson-extrapolated
differences are the truth for the doubtful elements: where the low-precision
analytic gradient agrees with them within the tolerance, the element was
rounding, and it is no longer unresolved or flagged; where it does not, the
float64 truth confirms the bug.  The report says which, and how closely
("the float32 gradient agrees with the float64 truth to 3e-4 at 5 element(s);
float32 differences alone could not tell").

The shadow runs only on the user's own structure (``fun(params)`` reading its
argument), costs one evaluation to find out whether the cost follows the
dtype, then four per doubtful element (at most :data:`MAX_ELEMENTS` per
block); the user's arrays are never touched.

References: mixed-precision verification by re-evaluation in higher precision —
Higham, *Accuracy and Stability of Numerical Algorithms* (2002), §27.

>>> follows_dtype(np.dtype(np.float32), np.dtype(np.float32))
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nbgrad.backend import is_array
from nbgrad.gradcheck.checks import BlockCheck, PartCheck
from nbgrad.gradcheck.compare import relative_error
from nbgrad.gradcheck.diagnoses import finding
from nbgrad.gradcheck.evaluate import CostCalls, cost_dtype, split_return
from nbgrad.gradcheck.numeric import differences, richardson
from nbgrad.gradcheck.params import ParamSet, collect
from nbgrad.gradcheck.steps import RICHARDSON_EXPONENT, machine_epsilon, nominal

#: Doubtful elements per block checked against the float64 truth.
MAX_ELEMENTS = 64
#: Flagged elements missing the tolerance by at most this factor may be rounding: doubtful.
#: (A factor of 2 or a flipped sign misses by far more and needs no second opinion.)
MARGIN = 3.0

LOW_PRECISION = (np.dtype(np.float16), np.dtype(np.float32))


def follows_dtype(parameters: np.dtype, cost: np.dtype) -> bool:
    """A low-precision cost of low-precision parameters: the shadow can ask float64."""
    return parameters in LOW_PRECISION and cost == parameters


def _widened(params: Any) -> Any:
    """Float64 copies of the user's arrays, in the user's structure (numpy only)."""
    if is_array(params):
        return np.asarray(params, dtype=np.float64).copy() if isinstance(params, np.ndarray) \
            else None
    if isinstance(params, dict):
        copies = {key: _widened(value) for key, value in params.items()}
        return None if any(value is None for value in copies.values()) else copies
    if isinstance(params, list | tuple):
        copies = [_widened(value) for value in params]
        return None if any(value is None for value in copies) else type(params)(copies)
    return None


def shadow_check(
    paramset: ParamSet, checks: list[BlockCheck], fun: Any, cost: CostCalls
) -> list[dict[str, Any]]:
    """Settle the doubtful elements of low-precision blocks against float64; findings to report."""
    doubtful = [
        check for check in checks
        if follows_dtype(check.block.dtype, cost.cost_dtype)
        and any(_doubtful(part, check.tolerance).any() for part in check.parts)
    ]
    if not doubtful or (paramset.structure == "flat" and len(paramset.blocks) == 0):
        return []
    wide = _widened(paramset.params)
    if wide is None:
        return []
    layout = _layout(paramset)
    shadow = collect(wide, *layout)
    calls = CostCalls(fun, wide)
    try:
        value, _ = split_return(calls.raw())
        if cost_dtype(value) != np.dtype(np.float64):  # the cost does not follow the dtype
            return []
        f0 = float(np.asarray(value).reshape(()))
        found = [_settle(check, shadow, f0, calls) for check in doubtful]
    except Exception:  # the shadow is an extra; the check stands without it
        return []
    finally:
        cost.count += calls.count
    return [item for item in found if item is not None]


def _doubtful(part: PartCheck, tolerance: float) -> np.ndarray:
    """Unresolved coordinates, and flagged ones within :data:`MARGIN` of the tolerance."""
    close = part.rel_error <= MARGIN * tolerance
    return part.unresolved | (part.flagged & close)


def _layout(paramset: ParamSet) -> tuple[Any, Any, str]:
    """``blocks``, ``names`` and ``order`` that cut the shadow as the user's params were cut."""
    blocks = paramset.blocks
    if paramset.structure == "flat":
        return {block.name: block.shape for block in blocks}, None, blocks[0].order or "C"
    if paramset.structure in ("list", "tuple"):
        return None, [block.name for block in blocks], "C"
    return None, None, "C"


def _settle(
    check: BlockCheck, shadow: ParamSet, f0: float, calls: CostCalls
) -> dict[str, Any] | None:
    """Richardson differences in float64 at the block's doubtful elements; update its verdicts."""
    block = next(b for b in shadow.blocks if b.name == check.block.name)
    eps = machine_epsilon(np.float64)
    agreed, errors, settled = 0, [], 0
    for number, part_check in enumerate(check.parts):
        indices = np.flatnonzero(_doubtful(part_check, check.tolerance))[:MAX_ELEMENTS]
        if not indices.size:
            continue
        part = block.parts[number]
        theta = part.flat_copy()
        base = theta[indices]
        step = nominal(base, eps, RICHARDSON_EXPONENT)
        coarse = differences(part, indices, theta, step, f0, calls)
        fine = differences(part, indices, theta, coarse.step / 2, f0, calls)
        truth = richardson(coarse, fine)
        analytic = part_check.analytic[indices]
        error = relative_error(analytic, truth, np.zeros(indices.size))
        right = error <= check.tolerance
        part_check.flagged[indices[right]] = False
        part_check.unresolved[indices[right]] = False
        part_check.flagged[indices[~right]] = True  # confirmed by the float64 truth
        part_check.unresolved[indices[~right]] = False
        part_check.numeric[indices] = truth
        part_check.rel_error[indices] = error
        agreed += int(right.sum())
        settled += indices.size
        errors.extend(error.tolist())
    if not settled:
        return None
    dtype = check.block.dtype.name
    close = [e for e in errors if e <= check.tolerance]
    worst = max(close) if close else max(errors)
    message = (
        f"{check.block.name}: {settled} element(s) missed the tolerance by no more than "
        f"{dtype} rounding could explain, so they were checked against the float64 truth (the "
        f"same cost evaluated on float64 copies): the {dtype} gradient agrees with it at {agreed}"
        + (f", to {worst:.1g}; {dtype} differences alone could not tell" if agreed else "")
    )
    if agreed < settled:
        message += f"; {settled - agreed} are wrong against float64 too"
    return finding(
        check.block.name, "float64_shadow", settled / (settled + 1), message,
        elements=settled, agreed=agreed, max_rel_error=worst,
    )
