"""``gradcheck``: the one entry point, orchestrating the modules of :mod:`nbgrad.gradcheck`.

The order of work is fixed by what each step needs:

1. :mod:`~nbgrad.gradcheck.params` validates and cuts the parameters into
   blocks; nothing is evaluated before the input is known to be usable.
2. Inside :func:`~nbgrad.gradcheck.params.preserved` (so that every exit
   path, KeyboardInterrupt included, restores the parameters bit for bit):
   the cost and analytic gradient at the base point
   (:mod:`~nbgrad.gradcheck.evaluate`, :mod:`~nbgrad.gradcheck.analytic`),
   the noise floor (:mod:`~nbgrad.gradcheck.noise`), then the per-block
   precision and tolerance (:mod:`~nbgrad.gradcheck.steps`), the numeric
   comparison (:mod:`~nbgrad.gradcheck.full` or :mod:`~nbgrad.gradcheck.fast`)
   and the step curve of the worst element (:mod:`~nbgrad.gradcheck.curve`).
3. Outside: diagnosis (:mod:`~nbgrad.gradcheck.diagnoses`) and the report
   document (:mod:`~nbgrad.gradcheck.summary`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbgrad.backend import to_numpy
from nbgrad.errors import EvaluationError, GradientError, UsageError
from nbgrad.gradcheck import fast, full
from nbgrad.gradcheck.analytic import block_gradients, part_gradient
from nbgrad.gradcheck.budget import check_budget, coordinates, planned_evaluations
from nbgrad.gradcheck.checks import BlockCheck, PartCheck
from nbgrad.gradcheck.curve import curve_for_worst
from nbgrad.gradcheck.diagnoses import diagnose_block, noise_finding
from nbgrad.gradcheck.evaluate import CostCalls
from nbgrad.gradcheck.noise import Noise, measure
from nbgrad.gradcheck.params import Block, ParamSet, Snapshot, collect, preserved
from nbgrad.gradcheck.shadow import shadow_check
from nbgrad.gradcheck.steps import StepPolicy, machine_epsilon, tolerance
from nbgrad.gradcheck.summary import RunInfo, report_document
from nbgrad.gradcheck.taylor import Probe, taylor_test
from nbgrad.report.gradcheck import GradcheckReport

MODES = ("full", "fast")


def gradcheck(
    fun: Callable[[Any], Any],
    params: Any,
    *,
    grad: Callable[[Any], Any] | None = None,
    mode: str = "full",
    blocks: Mapping[str, Sequence[int]] | None = None,
    order: str = "C",
    names: Sequence[str] | str | None = None,
    rtol: float | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    label: str | None = None,
    max_evaluations: int | None = None,
) -> GradcheckReport:
    """Check ``fun``'s analytic gradient against finite differences; say where, what kind, how sure.

    ``fun(params)`` returns the cost, or ``(cost, grad)``; ``grad(params)``, when
    given, returns the gradient instead (it takes precedence).  ``params`` is one
    floating-point array, a dict, or a list/tuple of arrays (numpy or CuPy); it
    is perturbed *in place* and passed to ``fun`` as the very same object, and
    restored bit for bit afterwards, whatever happens.  ``blocks`` names the
    pieces of one flat parameter vector, e.g. ``{"Theta1": (5, 4), "Theta2":
    (3, 6)}`` in C order, or ``order="F"`` for a vector unrolled column by column
    (Octave's ``Theta1(:)``, ``ravel(order="F")``); ``names`` gives display
    names to the arrays of a list.
    ``mode="fast"`` decides with random directional derivatives and localises
    wrong elements by group testing; ``rtol`` overrides the automatic
    per-dtype tolerance; ``seed`` fixes fast mode's random directions;
    ``progress(done, total)`` is called after every cost evaluation.
    Before the first evaluation a full check that needs more than
    ``max_evaluations`` (default 10⁶) evaluations, or more working memory than
    is available, is refused (:mod:`nbgrad.gradcheck.budget`).
    """
    started = time.perf_counter()
    _check_options(mode, rtol, grad, progress)
    _check_run_options(seed, label)
    cost = CostCalls(fun, params, progress)  # takes the user's np.seterr settings first
    # nbgrad's own arithmetic (steps of 0.0 that underflow, ratios of zeros) must not
    # raise under the user's np.seterr(all="raise"); fun itself runs under their settings.
    with np.errstate(all="ignore"):
        paramset = collect(params, blocks, names, order)
        check_budget(paramset, mode, max_evaluations)
        measured = _measure(paramset, cost, grad, rtol, mode, seed)
        run = RunInfo(
            mode=mode,
            label=label if label is not None else getattr(fun, "__name__", "fun"),
            evaluations=cost.count,
            noise=measured.noise,
            elapsed_s=time.perf_counter() - started,
        )
        return _report(measured, run, cost.side_effects.findings("during the check"))


@dataclass
class Measured:
    """Everything evaluated while the parameters were being moved."""

    checks: list[BlockCheck]
    thetas: list[np.ndarray]
    noise: Noise
    curve: dict[str, Any] | None
    taylor: list[dict[str, Any] | None]
    notes: list[dict[str, Any]]  # findings about the run: the float64 shadow's


def _measure(
    paramset: ParamSet,
    cost: CostCalls,
    grad: Callable[[Any], Any] | None,
    rtol: float | None,
    mode: str,
    seed: int,
) -> Measured:
    """All evaluations, inside :func:`preserved` so every exit restores the parameters."""
    cost.expect(planned_evaluations(coordinates(paramset), mode))
    with preserved(paramset) as snapshot:
        f0, returned = cost.base()
        with np.errstate(**cost.user_errors):
            analytic = _analytic(grad, paramset.params, returned)
        gradients = block_gradients(analytic, paramset)
        _refuse_if_changed(snapshot)
        thetas = [to_numpy(block.view).reshape(-1).copy() for block in paramset.blocks]
        noise = measure(cost, f0)

        def eps_of(block: Block) -> float:
            return StepPolicy.for_block(block.dtype, cost.cost_dtype, noise.floor, f0).eps

        if noise.drift:  # a cost that changes at a fixed point: no difference means anything
            unchecked = _unchecked(paramset, gradients)
            return Measured(unchecked, thetas, noise, None, [None] * len(thetas), [])
        checks = _compare(paramset, gradients, f0, cost, eps_of, rtol, mode, seed)
        if noise.too_noisy:  # element verdicts would be noise: none is claimed wrong
            for part in (part for check in checks for part in check.parts):
                part.flagged[:] = False
        notes = [] if noise.noisy else shadow_check(paramset, checks, cost.fun, cost)
        # Fast mode's budget skips the step curve: its element checks already confirm.
        curve = curve_for_worst(checks, f0, cost, eps_of) if mode == "full" else None
        # Fast mode's verdict budget has no room for STEPS more calls per block.
        rng = np.random.default_rng([seed, 1])
        taylor = [
            taylor_test(check.block, [part.analytic for part in check.parts], cost,
                        Probe(f0, eps_of(check.block), rng))
            if mode == "full" else None
            for check in checks
        ]
    return Measured(checks, thetas, noise, curve, taylor, notes)


def _report(measured: Measured, run: RunInfo,
            side_effects: list[dict[str, Any]]) -> GradcheckReport:
    """Diagnose every block and assemble the report document."""
    checks, noise = measured.checks, measured.noise
    diagnoses = [
        diagnose_block(check, theta, noise)
        for check, theta in zip(checks, measured.thetas, strict=True)
    ]
    # Failing blocks first, in the user's order; each block's findings most specific first.
    ordered = sorted(diagnoses, key=lambda diagnosis: diagnosis.passed)
    findings = [item for diagnosis in ordered for item in diagnosis.findings]
    if noise.noisy:  # first when it decides the verdict, last when it only widened steps
        position = 0 if noise.too_noisy or noise.drift else len(findings)
        widest = max(check.tolerance for check in checks)
        findings.insert(position, noise_finding(noise, widest))
    findings.extend(measured.notes)
    for diagnosis, taylor in zip(diagnoses, measured.taylor, strict=True):
        diagnosis.taylor = taylor
    document = report_document(checks, diagnoses, findings, measured.curve, run)
    if side_effects:  # the cost wrote files or moved the cwd (put back after each call)
        document["side_effects"] = side_effects
    return GradcheckReport(document)


def _check_options(mode: str, rtol: float | None, grad: Any, progress: Any) -> None:
    if mode not in MODES:
        raise UsageError(f"mode={mode!r}; expected one of {', '.join(map(repr, MODES))}")
    if rtol is not None and not (isinstance(rtol, int | float) and 0 < rtol < 1):
        raise UsageError(f"rtol={rtol!r}; expected a relative tolerance between 0 and 1")
    if grad is not None and not callable(grad):
        raise UsageError(f"grad= is {type(grad).__name__}; expected a callable grad(params)")
    if progress is not None and not callable(progress):
        raise UsageError(f"progress= is {type(progress).__name__}; expected progress(done, total)")


def _check_run_options(seed: Any, label: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise UsageError(f"seed={seed!r}; expected a non-negative integer")
    if label is not None and not isinstance(label, str):
        raise UsageError(f"label= is {type(label).__name__}; expected a string")


def _refuse_if_changed(snapshot: Snapshot) -> None:
    """A cost that moves its own parameters (a fused weight update) cannot be differenced."""
    changed = snapshot.changed()
    if changed:
        raise EvaluationError(
            f"fun changed {', '.join(changed)} in place while computing the cost and gradient "
            "at the unperturbed parameters (a weight update fused into the cost?); gradcheck "
            "needs a cost that leaves its parameters alone — move the update out, or use "
            "%%gradcheck --update-lr LR, which reads the gradient off the update"
        )


def _analytic(grad: Callable[[Any], Any] | None, params: Any, returned: Any) -> Any:
    if grad is not None:
        try:
            return grad(params)
        except Exception as exc:
            raise EvaluationError(
                f"grad raised {type(exc).__name__}: {exc} — at the unperturbed parameters"
            ) from exc
    if returned is None:
        raise GradientError(
            "no analytic gradient: fun returned only a cost and grad= was not given — "
            "return (cost, grad) from fun, or pass grad=callable"
        )
    return returned


def _unchecked(paramset: ParamSet, gradients: list[Any]) -> list[BlockCheck]:
    """Blocks with nothing differenced (a drifting cost): no element verdict at all."""
    return [
        BlockCheck(
            block,
            [PartCheck.unchecked(part, part_gradient(gradient, part.component))
             for part in block.parts],
            tolerance(machine_epsilon(block.dtype)),
        )
        for block, gradient in zip(paramset.blocks, gradients, strict=True)
    ]


def _compare(
    paramset: ParamSet,
    gradients: list[Any],
    f0: float,
    cost: CostCalls,
    eps_of: Callable[[Block], float],
    rtol: float | None,
    mode: str,
    seed: int,
) -> list[BlockCheck]:
    blocks = paramset.blocks
    tolerances = [rtol if rtol is not None else tolerance(eps_of(block)) for block in blocks]
    analytic = [
        [part_gradient(gradient, part.component) for part in block.parts]
        for block, gradient in zip(blocks, gradients, strict=True)
    ]
    if mode == "fast":
        return fast.check(paramset, analytic, f0, cost, eps_of, tolerances, seed)
    at = full.Point(None, f0, cost)
    checks = []
    for block, part_values, tol in zip(blocks, analytic, tolerances, strict=True):
        policy = StepPolicy(eps_of(block), tol, abs(f0))  # noise-widened precision, its tol
        parts = [full.check_part(part, values, policy, at)
                 for part, values in zip(block.parts, part_values, strict=True)]
        checks.append(BlockCheck(block, parts, tol))
    return checks
