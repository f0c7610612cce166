"""Counted, guarded evaluation of the user's cost.

Every number nbgrad reports rests on calls to ``fun(params)``, so this is the
one place that calls it.  :class:`CostCalls`

- counts the calls (the report's ``evaluations`` and the benchmark compare
  tools by it) and feeds the ``progress(done, total)`` callback;
- accepts what hand-written code returns: a float, a 0-d or one-element numpy
  or CuPy array (seed 001's cost has shape ``(1,)``), or ``(cost, grad)`` as in
  seed 003 — reading a device scalar is the only host transfer per call;
- turns every failure into an error that says *where*: a non-scalar or
  non-finite cost raises :class:`~nbgrad.errors.CostError`, an exception inside
  ``fun`` raises :class:`~nbgrad.errors.EvaluationError` naming the perturbed
  element, with the original exception chained.  ``KeyboardInterrupt`` is not
  wrapped: it passes through so that the caller's ``finally`` restores the
  parameters and the user's interrupt still stops the check.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nbgrad.backend import is_array
from nbgrad.errors import CostError, EvaluationError
from nbgrad.namespace.sideeffects import SideEffects

#: Describes where the parameters are when ``fun`` is called; built only on error.
Where = Callable[[], str] | None

BASE_POINT = "at the unperturbed parameters"


def _where_text(where: Where) -> str:
    return BASE_POINT if where is None else where()


def scalar_cost(value: Any, where: Where, finite: bool = True) -> float:
    """Turn what ``fun`` returned as its cost into a finite Python float, or raise CostError.

    ``finite=False`` lets NaN and ±inf through, for a caller that retries a
    step that left the cost's domain (see :mod:`nbgrad.gradcheck.numeric`).
    """
    if is_array(value) or isinstance(value, np.generic):
        if value.size != 1:
            raise CostError(
                f"the cost {_where_text(where)} has shape {tuple(value.shape)}; gradcheck needs "
                "a scalar cost — return its sum or mean"
            )
        value = value.reshape(()).item() if is_array(value) else value.item()
    if isinstance(value, complex):
        if value.imag != 0:
            raise CostError(
                f"the cost {_where_text(where)} is complex ({value}); gradcheck needs a real cost"
            )
        value = value.real
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CostError(
            f"the cost {_where_text(where)} is {type(value).__name__}; gradcheck needs a real "
            "scalar, or a (cost, grad) tuple"
        )
    cost = float(value)
    if finite and not math.isfinite(cost):
        raise CostError(
            f"the cost is {cost} {_where_text(where)}; gradcheck needs a finite cost "
            "(a log of 0 or an overflow in the forward pass?)"
        )
    return cost


def cost_dtype(value: Any) -> np.dtype:
    """The precision the cost was computed in: a float32 cost of float64 weights is float32.

    A numpy/CuPy float32 or float16 cost carries that dtype's rounding whatever
    the parameters' dtype, so steps and tolerance must follow the coarser of
    the two; Python numbers count as float64.
    """
    dtype = getattr(value, "dtype", None)
    if dtype is None or np.dtype(dtype).kind not in "fc":
        return np.dtype(np.float64)
    return np.dtype(dtype)


def split_return(value: Any) -> tuple[Any, Any]:
    """``fun``'s return value -> (cost, gradient or None).

    ``(cost, grad)`` and ``(cost, *grads)`` (one gradient per parameter, in
    order, possibly followed by other outputs such as min-char-rnn's hidden
    state, which :mod:`~nbgrad.gradcheck.analytic` leaves out).
    """
    if isinstance(value, tuple) and len(value) == 2:
        return value
    if isinstance(value, tuple) and len(value) > 2:
        return value[0], value[1:]
    return value, None


class CostCalls:
    """``fun(params)`` wrapped: counted, validated, errors naming the perturbation."""

    def __init__(self, fun: Callable[[Any], Any], params: Any, progress: Any = None) -> None:
        if not callable(fun):
            raise EvaluationError(
                f"fun is {type(fun).__name__}; gradcheck needs a callable fun(params) "
                "returning the cost or (cost, grad)"
            )
        self.fun = fun
        self.params = params
        self.progress = progress
        self.count = 0
        self.total = 0
        self.cost_dtype = np.dtype(np.float64)  # set by :meth:`base`
        #: The user's floating-point error settings, taken before nbgrad's own numerics
        #: silence them (:func:`nbgrad.gradcheck.api.gradcheck`): ``fun`` runs under them.
        self.user_errors = np.geterr()
        #: cwd put back after every call; files opened for writing counted for the report
        self.side_effects = getattr(fun, "nbgrad_side_effects", None) or SideEffects("fun")

    def raw(self, where: Where = None, quiet: bool = False) -> Any:
        """Call ``fun`` once, under the user's ``np.seterr`` settings, and return its value.

        ``quiet`` runs it with floating-point errors ignored instead: a step that
        may have left the cost's domain is probed, and NaN is the answer sought.
        """
        errors = {"all": "ignore"} if quiet else self.user_errors
        try:
            with np.errstate(**errors), self.side_effects.run():
                value = self.fun(self.params)
        except Exception as exc:
            raise EvaluationError(
                f"fun raised {type(exc).__name__}: {exc} — {_where_text(where)}"
            ) from exc
        finally:
            self.count += 1
        if self.progress is not None:
            self.progress(self.count, max(self.total, self.count))
        return value

    def base(self) -> tuple[float, Any]:
        """Cost and returned gradient (or None) at the unperturbed point."""
        cost, grad = split_return(self.raw())
        self.cost_dtype = cost_dtype(cost)
        return scalar_cost(cost, None), grad

    def __call__(self, where: Where = None, finite: bool = True) -> float:
        """The cost at the current (perturbed) parameters.

        ``finite=False`` returns NaN/inf instead of raising, and silences
        numpy's floating-point warnings: the caller is probing whether its step
        left the cost's domain, and "invalid value in log" would only alarm.
        """
        cost, _ = split_return(self.raw(where, quiet=not finite))
        return scalar_cost(cost, where, finite)

    def expect(self, more: int) -> None:
        """Announce ``more`` calls on top of those already planned, for an honest progress total."""
        self.total = max(self.total, self.count) + more
