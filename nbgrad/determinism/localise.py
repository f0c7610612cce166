"""Rerun the first divergent step under tracing to name the variable and line.

Three short runs of the pair of configurations that the experiments showed
to differ: the first records per-line digests during the step, the second
compares against it line by line and stops at the first difference, keeping
its value; the third replays the first configuration up to that same event
to keep the other value, so the report can say how large the difference is.
"""

from __future__ import annotations

import dataclasses
import re
import traceback
from dataclasses import dataclass

from nbgrad.determinism.difference import Difference, difference
from nbgrad.determinism.poison import Allocation
from nbgrad.determinism.runner import CellRunner, RunConfig, RunRecord
from nbgrad.determinism.trace import StepTracer
from nbgrad.namespace.paths import format_path
from nbgrad.namespace.usercode import Site, is_user_file

_ALLOCATION_CALL = re.compile(r"([A-Za-z_][\w.]*\.)?(empty_like|empty)\s*\(")


@dataclass
class Location:
    site: Site | None
    variable: str | None
    difference: Difference | None
    allocation: Allocation | None
    raised: str | None = None


def _traced(config: RunConfig, step: int) -> RunConfig:
    return dataclasses.replace(config, stop_after_step=step, trace_step=step, run=None)


def _tracer(runner: CellRunner, **kwargs: object) -> StepTracer:
    # Full paths (``NN.b``, not ``NN``): an object is not digested, its arrays are.
    module_names = list(dict.fromkeys([*runner.cell.assigned,
                                       *(format_path(p) for p in runner.tracked)]))
    return StepTracer(runner.cell.filename, None, module_names, **kwargs)  # type: ignore[arg-type]


def _raise_site(record: RunRecord, cell_filename: str) -> Site | None:
    """The innermost notebook line of the exception a run raised."""
    if record.exception is None:
        return None
    frames = [f for f in traceback.extract_tb(record.exception.__traceback__)
              if is_user_file(f.filename, cell_filename)]
    if not frames:
        return None
    last = frames[-1]
    return Site(last.filename, None if last.name == "<module>" else last.name, last.lineno)


def localise(runner: CellRunner, pair: tuple[RunConfig, RunConfig], step: int) -> Location:
    """Find the first traced line whose result differs between the two configurations."""
    first, second = (_traced(config, step) for config in pair)
    recorded = runner.run(first, tracer=_tracer(runner))
    compared = runner.run(second, tracer=_tracer(runner, reference=recorded.tracer.events))
    mismatch = compared.tracer.mismatch
    if mismatch is None:
        raised = compared if compared.error else recorded if recorded.error else None
        if raised is None:
            return Location(None, None, None, None)
        return Location(_raise_site(raised, runner.cell.filename), None, None, None,
                        f"{raised.error.type}: {raised.error.message}")
    size = None
    if mismatch.variable is not None:
        replay = runner.run(first, tracer=_tracer(runner, capture_index=mismatch.index,
                                                  capture_variable=mismatch.variable))
        if replay.tracer.captured is not None:
            size = difference(replay.tracer.captured, mismatch.value)
    return Location(mismatch.site, mismatch.variable, size, mismatch.allocation)


def allocation_call(allocation: Allocation) -> str:
    """How the user wrote the allocation (``np.empty``, ``cp.empty_like``), for the report."""
    source = allocation.site.source if allocation.site else None
    found = _ALLOCATION_CALL.search(source or "")
    if found:
        return f"{found.group(1) or ''}{found.group(2)}"
    return allocation.call
