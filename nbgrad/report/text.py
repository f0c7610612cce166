"""Plain-text rendering: the report as a terminal, a CI log or plain IPython shows it.

It is ``Report.__repr__`` and the ``text/plain`` of the MIME bundle, so it must
stand on its own: the verdict first, then aligned tables a reader can scan,
with long per-step series compacted to the steps where something happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nbgrad.report import fmt

#: Per-step rows shown before the table is cut (the full series is in the JSON).
MAX_STEP_ROWS = 12
#: Failing blocks whose heatmap fits in this many rows get a character map in the log.
MAX_MAP_ROWS = 16


@fmt.renderer
def render_text(report: dict[str, Any]) -> str:
    """Return the aligned plain-text summary of a gradcheck or determinism report."""
    kind = fmt.report_kind(report)
    sections = _gradcheck_sections(report) if kind == "gradcheck" else _determinism_sections(report)
    return "\n\n".join("\n".join(lines) for lines in sections if lines)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces, trailing blanks stripped."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in (headers, *rows)
    ]


def _header(report: dict[str, Any], facts: str) -> list[str]:
    return [
        f"nbgrad {report['kind']}  {fmt.status_word(report)}  ({facts})",
        f"checked: {report.get('label', '')}",
        report.get("headline", ""),
    ]


def _gradcheck_sections(report: dict[str, Any]) -> list[list[str]]:
    facts = (
        f"{report['mode']} mode, {report['evaluations']} evaluations, "
        f"{fmt.seconds(report['elapsed_s'])}"
    )
    if report["noise"]["noisy"]:
        facts += f", noisy cost: floor {fmt.num(report['noise']['floor'])}"
    return [
        _header(report, facts),
        _block_table(report["blocks"], report["mode"]),
        *(_character_map(block) for block in report["blocks"] if not block["passed"]),
        _worst_elements(report["blocks"]),
        _taylor_lines(report["blocks"]),
        _findings(report["findings"]),
        _side_effects(report.get("side_effects")),
    ]


def _taylor_lines(blocks: list[dict[str, Any]]) -> list[str]:
    """One line per block: the Taylor test's orders and what they say (``taylor.message``)."""
    return [block["taylor"]["message"] for block in blocks if block.get("taylor")]


def _block_table(blocks: list[dict[str, Any]], mode: str) -> list[str]:
    rows = [
        [
            block["name"],
            fmt.shape(block["shape"]),
            block["dtype"],
            fmt.num(block["max_rel_error"]),
            fmt.num(block["tolerance"], 0),
            fmt.checked_words(block, mode),
            fmt.diagnosis_words(block),
        ]
        for block in blocks
    ]
    headers = ["block", "shape", "dtype", "max rel err", "tol", "checked", "diagnosis"]
    return table(headers, rows)


def _character_map(block: dict[str, Any]) -> list[str]:
    """Where a small failing block is wrong, readable in a CI log: X wrong, . ok, ? unchecked."""
    heatmap = block["heatmap"]
    if heatmap is None or heatmap["rows"] > MAX_MAP_ROWS or "flat" in block["diagnoses"]:
        return []  # a flat block has nothing wrong to point at: the table says it is flat
    pooled = ", max-pooled" if heatmap["pooled"] else ""
    lines = [f"{block['name']} (rows × columns{pooled}; X wrong, . ok, ? not checked):"]
    for index, values in enumerate(heatmap["values"]):
        marks = "".join(
            "?" if v is None else "X" if v > block["tolerance"] else "." for v in values
        )
        lines.append(f"{index:>4}  {marks}")
    return lines


def _worst_elements(blocks: list[dict[str, Any]], limit: int = 8) -> list[str]:
    worst = sorted(_failing_elements(blocks), key=lambda pair: -(pair[1]["rel_error"] or 0.0))
    worst = worst[:limit]
    if not worst:
        return []
    rows = [
        [fmt.element(name, item["multi_index"]), fmt.gradient_value(item, "analytic"),
         fmt.gradient_value(item, "numeric"), fmt.ratio(item), fmt.num(item["rel_error"]),
         fmt.num(item["step"], 1)]
        for name, item in worst
    ]
    headers = ["element", "analytic", "numeric", "analytic/numeric", "rel err", "step"]
    return ["worst elements:", *table(headers, rows)]


def _failing_elements(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(block name, element) for the listed worst elements the engine flagged as wrong."""
    return [
        (block["name"], item)
        for block in blocks
        for item in block["worst"]
        if item["index"] in block["flagged"]
    ]


def _findings(findings: list[dict[str, Any]]) -> list[str]:
    if not findings:
        return []
    lines = ["findings:"]
    lines += [f"- [{fmt.percent(f['confidence'])}] {f['message']}"
              for f in fmt.unique_findings(findings)]
    return [*lines, f"(how each finding and its confidence are decided: {fmt.DIAGNOSES_DOC})"]


def _determinism_sections(report: dict[str, Any]) -> list[list[str]]:
    facts = (
        f"{report['runs']} run{'s' * (report['runs'] != 1)}, "
        f"{report['steps']} step{'s' * (report['steps'] != 1)}, {report['backend']}, "
        f"{fmt.seconds(report['elapsed_s'])}, namespace restored to {report['restored']}"
    )
    return [
        _header(report, facts),
        _error(report.get("error")),
        _divergence(report.get("first_divergence"), report.get("headline", "")),
        _variables(report),
        _step_table(report),
        _experiments(report["experiments"]),
        _comparison(report.get("comparison")),
        _side_effects(report.get("side_effects")),
    ]


def _side_effects(effects: list[dict[str, Any]] | None) -> list[str]:
    """What the checked code did outside the namespace (files written, cwd moved)."""
    return ["outside the namespace:", *(f"- {e['message']}" for e in effects)] if effects else []


def _error(error: dict[str, Any] | None) -> list[str]:
    if error is None:
        return []
    poison = " (only under poisoned allocations)" if error["under_poison"] else ""
    return [
        f"run {error['run']} raised {error['type']}: {error['message']}{poison}",
        *error["traceback"].rstrip().splitlines(),
    ]


def _divergence(div: dict[str, Any] | None, headline: str) -> list[str]:
    if div is None:
        return []
    where = fmt.divergence_place(div)
    lines = [
        f"first divergence: {where}",
        f"cause: {div['cause']} ({fmt.percent(div['cause_confidence'])}): {div['explanation']}",
    ]
    if div.get("counts"):
        lines.append(f"evidence: {div['counts']} ({fmt.doc_link(div['cause'])})")
    lines += [
        f"{'>' if item['line'] == div['line'] else ' '} {item['line']:>5} | {item['text']}"
        for item in div["context"]
    ]
    if not div["context"] and div["source"]:
        lines.append(f">       | {div['source']}")
    alloc = div.get("allocation")
    if alloc is not None:
        at = f"line {alloc['line']}" if alloc["line"] is not None else "an unknown line"
        lines.append(f"allocated by {alloc['call']} at {at}: {alloc['source'] or fmt.MISSING}")
    ulps = fmt.MISSING if div["max_ulps"] is None else str(div["max_ulps"])
    lines.append(
        f"size: max abs diff {fmt.num(div['max_abs_diff'])}, "
        f"max rel diff {fmt.num(div['max_rel_diff'])}, max ULPs {ulps}"
    )
    if div.get("chaos"):
        lines.append(div["chaos"]["words"])
    if words := fmt.fix_words(div.get("fix"), headline):
        lines.append(f"fix: {words}")
    return lines


def _variables(report: dict[str, Any]) -> list[str]:
    if report["first_divergence"] is None or not report["variables"]:
        return []
    rows = [
        [v["name"], fmt.MISSING if v["first_step"] is None else str(v["first_step"]),
         f"{v['steps_diverged']} of {report['steps']}", fmt.first_fraction(v)]
        for v in report["variables"]
    ]
    headers = ["variable", "first divergent step", "steps diverged", "elements differing there"]
    return ["per variable:", *table(headers, rows)]


def _step_table(report: dict[str, Any]) -> list[str]:
    rows = [
        [label, ", ".join(row["diverged"]) or "identical", fmt.step_difference(row),
         fmt.fractions(row)]
        for label, row in fmt.step_rows(report, MAX_STEP_ROWS)
    ]
    if not rows:
        return []
    return ["per step:", *table(["steps", "diverged", "max abs diff", "elements differing"], rows)]


def _experiments(experiments: list[dict[str, Any]]) -> list[str]:
    if not experiments:
        return []
    rows = [
        [e["name"], e["poison"], e["rng"], e["outcome"],
         fmt.MISSING if e["first_step"] is None else str(e["first_step"]), e["detail"]]
        for e in experiments
    ]
    headers = ["experiment", "poison", "rng", "outcome", "first step", "detail"]
    return ["what was tried:", *table(headers, rows)]


def _comparison(comparison: dict[str, Any] | None) -> list[str]:
    if comparison is None:
        return []
    rows = [[str(s["step"]), fmt.num(s["max_abs_diff"])] for s in comparison["per_step"]]
    lines = [f"versus {comparison['reference']}:"]
    lines += [f"  {comparison[key]}" for key in ("note", "error") if comparison.get(key)]
    return lines + table(["step", "max abs diff"], rows)
