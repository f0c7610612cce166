"""From runs, experiments and localisation to the report document (docs/report-schema.md).

The one builder of a determinism report: every verdict, count, fix and the
headline are decided here, once; text, HTML, the widget and the panel only
render the dictionary.  The envelope (``id``, ``created``, ``elapsed_s``,
versions) comes from :func:`nbgrad.report.base.envelope`, shared with the
gradient checker.
"""

from __future__ import annotations

import linecache
import math
from dataclasses import dataclass
from typing import Any

from nbgrad.determinism.causes import CAUSES, INCONCLUSIVE, UNINITIALIZED, FixContext, Verdict
from nbgrad.determinism.difference import Difference
from nbgrad.determinism.localise import Location, allocation_call
from nbgrad.determinism.runner import RunRecord
from nbgrad.namespace.usercode import context_lines, is_notebook_file
from nbgrad.report.base import envelope, json_float
from nbgrad.report.determinism import DeterminismReport


@dataclass
class Divergence:
    """Everything the experiments and localisation found about the first divergence."""

    step: int
    rerun: RunRecord
    verdict: Verdict
    location: Location
    generators: list[str]
    backend: str
    cell_source: str
    chaos: dict[str, Any] | None = None


def per_step(run0: RunRecord, rerun: RunRecord,
             read_poison: dict[int, list[str]]) -> list[dict[str, Any]]:
    """One row per step: what diverged, by how much, and what share of each value's elements.

    ``by_variable`` is ``null`` for a difference that has no size (NaN or
    poison on one side); ``fraction`` says how many elements differ then.
    """
    rows = []
    for step in range(len(run0.steps)):
        diffs = rerun.diffs[step] if step < len(rerun.diffs) else {}
        suspect = read_poison.get(step, [])
        diverged = sorted({*run0.diverged_names(rerun, step), *suspect})
        by_variable = {n: (None if n in suspect else d.max_abs if d is not None else None)
                       for n, d in sorted(diffs.items())}
        fraction = {n: _fraction(d, n in diverged) for n, d in sorted(diffs.items())}
        sizes = [by_variable.get(n) for n in diverged if by_variable.get(n) is not None]
        rows.append({"step": step, "diverged": diverged,
                     "max_abs_diff": max(sizes) if sizes else None, "by_variable": by_variable,
                     "fraction": fraction})
    return rows


def _fraction(difference: Difference | None, diverged: bool) -> float | None:
    if difference is not None and difference.fraction is not None:
        return difference.fraction if diverged or difference.fraction else 0.0
    return None if diverged else 0.0


def variables(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per variable: the first step it diverges at, and the share of elements differing per step.

    This is what seed 000's story needs when every difference is NaN: not a
    column of NaN markers, but "``bias_c`` from step 0, all elements".
    """
    names = dict.fromkeys(n for row in rows for n in [*row["by_variable"], *row["diverged"]])
    found = []
    for name in names:
        steps = [row["step"] for row in rows if name in row["diverged"]]
        found.append({
            "name": name, "first_step": steps[0] if steps else None,
            "steps_diverged": len(steps),
            "fraction_per_step": [row["fraction"].get(name) if name in row["diverged"] else 0.0
                                  for row in rows],
        })
    return sorted(found, key=lambda v: (v["first_step"] is None, v["first_step"] or 0, v["name"]))


def collapsed(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive steps with the same diverged names and sizes as one row ``first``..``last``."""
    runs: list[dict[str, Any]] = []
    for row in rows:
        key = (row["diverged"], row["by_variable"], row["fraction"])
        if runs and runs[-1]["_key"] == key:
            runs[-1]["last"] = row["step"]
            continue
        runs.append({"_key": key, "first": row["step"], "last": row["step"],
                     "diverged": row["diverged"], "max_abs_diff": row["max_abs_diff"],
                     "by_variable": row["by_variable"], "fraction": row["fraction"]})
    for entry in runs:
        del entry["_key"]
    return runs


def error_entry(record: RunRecord, under_poison: bool) -> dict[str, Any]:
    return {"run": record.config.run if record.config.run is not None else 0,
            "type": record.error.type, "message": record.error.message,
            "traceback": record.error.traceback,
            "under_poison": under_poison and record.config.poison is not None}


def divergence_entry(found: Divergence, run0: RunRecord) -> dict[str, Any]:
    """The report's ``first_divergence``: where, what, the cause with its evidence, the fix."""
    step, rerun, verdict, location = found.step, found.rerun, found.verdict, found.location
    site = location.site
    diverged = sorted(run0.diverged_names(rerun, step))
    variable = location.variable or (diverged[0] if diverged else None)
    size = location.difference
    if size is None and variable in (rerun.diffs[step] if step < len(rerun.diffs) else {}):
        size = rerun.diffs[step][variable]
    allocation = None
    alloc_site = location.allocation.site if location.allocation is not None else None
    if location.allocation is not None and verdict.cause == UNINITIALIZED:
        allocation = {"function": alloc_site.function if alloc_site else None,
                      "line": alloc_site.line if alloc_site else None,
                      "source": alloc_site.source if alloc_site else None,
                      "call": allocation_call(location.allocation)}
    explanation = verdict.explanation
    if location.raised:
        explanation += f"; the poisoned run raised {location.raised}"
    source = site.source if site else None
    fix = CAUSES[verdict.cause].fix(FixContext(
        source=source, line=site.line if site else None,
        function=site.function if site else None,
        allocation=alloc_site if verdict.cause == UNINITIALIZED else None,
        generators=found.generators, clock_calls=verdict.clock_calls,
        backend=found.backend, cell_source=found.cell_source))
    return {
        "step": step, "variable": variable or "(control flow)",
        "function": site.function if site else None, "line": site.line if site else None,
        "source": source,
        "file": site.filename if site and not is_notebook_file(site.filename) else None,
        "context": context_lines(site.filename, site.line) if site else [],
        "cause": verdict.cause, "cause_confidence": verdict.confidence,
        "explanation": explanation,
        "evidence": verdict.evidence(), "replicas": verdict.replicas,
        "counts": verdict.counts,
        "clock_calls": [{"call": call, "line": s.line if s else None,
                         "function": s.function if s else None}
                        for call, s in verdict.clock_calls.items()],
        "max_abs_diff": size.max_abs if size else None,
        "max_rel_diff": size.max_rel if size else None,
        "max_ulps": size.max_ulps if size else None,
        "fraction_differing": size.fraction if size else None,
        "allocation": allocation,
        "fix": fix,
        "chaos": found.chaos,
    }


def headline(report: dict[str, Any]) -> str:
    """One sentence; a divergence's ends with its fix."""
    if report["status"] == "error":
        error = report["error"]
        return f"the cell raised {error['type']} in run {error['run']}: {error['message']}"
    if report["deterministic"]:
        return (f"deterministic: {report['runs']} runs agreed bit for bit at all "
                f"{report['steps']} step(s)")
    d = report["first_divergence"]
    where = ""
    if d["line"] is not None:
        where = f", line {d['line']}" + (f" of `{d['function']}`" if d["function"] else "")
        if d.get("file"):
            where += f" in {d['file'].rsplit('/', 1)[-1]}"
    when = (f"at step {d['step']}" if d["step"] < report["steps"]
            else "after the last step (in the code after the loop)")
    words = CAUSES[d["cause"]].words
    if d["cause"] == INCONCLUSIVE:
        words = "cause inconclusive"
    text = f"diverges {when} in `{d['variable']}`{where}: {words}"
    allocation = d["allocation"]
    if allocation:
        text += f" from `{allocation['call']}`"
        if allocation["line"] is not None:
            text += f" at line {allocation['line']}"
    fix = d["fix"]
    if fix["kind"] != "none":
        text += f" — fix: {fix['summary']}"
    return text


def build(fields: dict[str, Any], *, label: str, elapsed_s: float, status: str | None = None,
          exception: BaseException | None = None) -> DeterminismReport:
    """The document, once: envelope, verdict, headline."""
    deterministic = status is None and fields["first_divergence"] is None
    status = status or ("deterministic" if deterministic else "diverged")
    rows = fields.get("per_step", [])
    data = {**envelope(elapsed_s), "label": label, "status": status,
            "deterministic": deterministic, **fields, "restored": fields.get("restored", "run0"),
            "variables": variables(rows), "per_step_collapsed": collapsed(rows)}
    data["headline"] = headline(data)
    report = DeterminismReport(data)
    report.exception = exception
    return report


def chaos_words(observed: float | None, spread: float | None, step: int) -> str:
    """How the divergence compares with what one ULP of rounding spreads to by ``step``."""
    if observed is None:
        return ("the divergence holds NaN or poison: it is not rounding noise, whatever "
                "the loop's own chaos")
    if spread is None or spread == 0.0:
        return (f"a 1-ULP nudge leaves this loop bit-identical up to step {step}: rounding "
                f"alone does not explain this divergence")
    ratio = observed / spread
    if not math.isfinite(ratio) or ratio >= 1e12:
        return (f"the divergence ({observed:.2g}) is far beyond rounding: a 1-ULP nudge spreads "
                f"to {spread:.2g} by step {step}")
    if ratio >= 100:
        return (f"this divergence is {ratio:.0e}× what rounding alone produces by step {step}")
    if ratio <= 10:
        return (f"within the loop's own chaos: a 1-ULP nudge spreads to {spread:.2g} by step "
                f"{step} (the divergence is {observed:.2g})")
    return (f"the divergence is {ratio:.0f}× what a 1-ULP nudge spreads to by step {step}")


def chaos_entry(nudged: str, spread: list[float | None], step: int,
                observed: float | None) -> dict[str, Any]:
    at = spread[step] if step < len(spread) else (spread[-1] if spread else None)
    return {"nudged": nudged, "spread_per_step": [json_float(v) for v in spread],
            "spread_at_step": json_float(at), "observed": json_float(observed),
            "ratio": json_float(observed / at) if observed is not None and at else None,
            "words": chaos_words(observed, at, step)}


def cell_source(filename: str | None) -> str:
    return "".join(linecache.getlines(filename)) if filename else ""
