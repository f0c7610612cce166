"""``python -m nbgrad run``: notebooks as gradient and determinism tests.

Each notebook is executed through a real Jupyter kernel (nbclient), so the
checks run exactly as they do for the user.  Every report a cell displayed
(``application/vnd.nbgrad.report+json`` in its outputs) is collected into a
summary table; the executed notebook and an HTML export (nbconvert) are
written next to each other, so CI artefacts show the static reports.

Exit status: 0 when every check passed, 1 when a check failed or a notebook
raised, 2 for bad arguments.  A cell tagged ``nbgrad-expect-fail`` is the
"show the bug" half of a bug/fix pair: its checks must fail, and a passing
check there is itself a failure.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nbgrad.report import fmt
from nbgrad.report.base import MIME_TYPE
from nbgrad.report.text import table

EXPECT_FAIL_TAG = "nbgrad-expect-fail"
FAILING_STATUSES = frozenset({"fail", "diverged", "error"})
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CheckRow:
    """One report found in an executed notebook, with its verdict for this run."""

    notebook: str
    cell: int
    execution_count: int | None
    kind: str
    status: str
    figure: str
    expect_fail: bool
    ok: bool
    outcome: str
    headline: str


@dataclass
class NotebookResult:
    path: str
    executed: str | None = None
    html: str | None = None
    error: str | None = None
    checks: list[CheckRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(row.ok for row in self.checks)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nbgrad`` and ``python -m nbgrad``; returns the exit status."""
    args = _parser().parse_args(argv)
    missing = [path for path in args.notebooks if not Path(path).is_file()]
    if missing:
        print(f"nbgrad run: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 2
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(path) for path in args.notebooks]
    results = [
        run_notebook(path, output_dir, stem=stem, timeout=args.timeout, kernel=args.kernel)
        for path, stem in zip(paths, output_stems(paths), strict=True)
    ]
    print(summary(results))
    if args.json:
        Path(args.json).write_text(json.dumps(summary_json(results), indent=1) + "\n")
    return 0 if all(result.ok for result in results) else 1


def run_notebook(path: Path, output_dir: Path, *, stem: str | None = None,
                 timeout: float = 600, kernel: str | None = None) -> NotebookResult:
    """Execute one notebook, write it and its HTML export, and collect its checks."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    result = NotebookResult(str(path))
    notebook = nbformat.read(path, as_version=4)
    options: dict[str, Any] = {"timeout": timeout,
                               "resources": {"metadata": {"path": str(path.parent.resolve())}}}
    if kernel:
        options["kernel_name"] = kernel
    try:
        NotebookClient(notebook, **options).execute()
    except (CellExecutionError, CellTimeoutError) as error:
        result.error = ANSI_ESCAPE.sub("", str(error)).strip()
    except Exception as error:  # kernel died or could not start: report, keep the others going
        result.error = f"{type(error).__name__}: {error}"
    result.checks = collect_checks(notebook, path.name)
    stem = stem or path.stem
    executed = output_dir / f"{stem}.ipynb"
    nbformat.write(notebook, executed)
    result.executed = str(executed)
    result.html = str(_export_html(notebook, output_dir / f"{stem}.html"))
    return result


def collect_checks(notebook: Any, name: str) -> list[CheckRow]:
    """Every nbgrad report in the notebook's outputs, in cell order.

    A cell tagged ``nbgrad-expect-fail`` that ran but showed no report is a
    row of its own: the failure it was meant to demonstrate went missing.
    """
    rows = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        expect_fail = EXPECT_FAIL_TAG in cell.get("metadata", {}).get("tags", [])
        count = cell.get("execution_count")
        reports = [
            output["data"][MIME_TYPE]
            for output in cell.get("outputs", [])
            if output.get("output_type") in ("display_data", "execute_result")
            and MIME_TYPE in output.get("data", {})
        ]
        rows += [_row(name, index, count, report, expect_fail) for report in reports]
        if expect_fail and not reports and count is not None:
            rows.append(CheckRow(name, index, count, fmt.MISSING, fmt.MISSING, fmt.MISSING,
                                 True, False, f"NO REPORT in a cell tagged {EXPECT_FAIL_TAG}", ""))
    return rows


def summary(results: list[NotebookResult]) -> str:
    """The table printed at the end of a run, then one line per notebook that raised."""
    rows = [
        [row.notebook, str(row.cell), fmt.MISSING if row.execution_count is None
         else str(row.execution_count), row.kind, row.status, row.figure, row.outcome]
        for result in results for row in result.checks
    ]
    headers = ["notebook", "cell", "exec", "kind", "status", "figure", "outcome"]
    lines = table(headers, rows) if rows else ["no nbgrad reports found"]
    for result in results:
        if result.error is not None:
            lines += ["", f"{result.path} raised:", result.error]
    failed = sum(not row.ok for result in results for row in result.checks)
    broken = sum(result.error is not None for result in results)
    total = sum(len(result.checks) for result in results)
    lines += ["", f"{total} checks, {failed} failed, {broken} notebooks raised; "
                  f"outputs in {_output_dirs(results)}"]
    return "\n".join(lines)


def summary_json(results: list[NotebookResult]) -> dict[str, Any]:
    return {
        "ok": all(result.ok for result in results),
        "notebooks": [
            {"path": r.path, "executed": r.executed, "html": r.html, "error": r.error,
             "ok": r.ok}
            for r in results
        ],
        "checks": [asdict(row) for result in results for row in result.checks],
    }


def _row(name: str, cell: int, count: int | None, report: dict[str, Any],
         expect_fail: bool) -> CheckRow:
    failed = report.get("status") in FAILING_STATUSES
    if expect_fail:
        ok, outcome = failed, "failed as expected" if failed else (
            "UNEXPECTED PASS: expected this check to fail")
    else:
        ok, outcome = not failed, "FAILED" if failed else "ok"
    return CheckRow(name, cell, count, str(report.get("kind")), str(report.get("status")),
                    _figure(report), expect_fail, ok, outcome, str(report.get("headline", "")))


def _figure(report: dict[str, Any]) -> str:
    """The one number a CI log needs: worst relative error, or where the runs diverged."""
    if report.get("kind") == "gradcheck":
        if report.get("diagnoses") == ["flat"]:
            return "flat cost: nothing to train"  # a tiny error here would read as a pass
        return f"max rel err {fmt.num(report.get('max_rel_error'))}"
    if report.get("error"):
        return f"raised {report['error']['type']}"
    divergence = report.get("first_divergence")
    if divergence:
        return f"step {divergence['step']}: {divergence['variable']} ({divergence['cause']})"
    return f"{report.get('runs')} runs × {report.get('steps')} steps identical"


def _export_html(notebook: Any, target: Path) -> Path:
    from nbconvert import HTMLExporter

    body, _resources = HTMLExporter().from_notebook_node(notebook)
    target.write_text(body, encoding="utf-8")
    return target


def output_stems(paths: list[Path]) -> list[str]:
    """File stems for the outputs: same-named notebooks from different folders get ``-2``, ..."""
    stems: list[str] = []
    for path in paths:
        stem, counter = path.stem, 1
        while stem in stems:
            counter += 1
            stem = f"{path.stem}-{counter}"
        stems.append(stem)
    return stems


def _output_dirs(results: list[NotebookResult]) -> str:
    return ", ".join(sorted({str(Path(r.executed).parent) for r in results if r.executed}))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbgrad", description="Notebooks as gradient and determinism tests."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks and collect their nbgrad checks")
    run.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    run.add_argument("--output-dir", default="build/nbgrad",
                     help="where executed notebooks and HTML exports go (default build/nbgrad)")
    run.add_argument("--timeout", type=float, default=600,
                     help="seconds one cell may run (default 600)")
    run.add_argument("--kernel", default=None,
                     help="kernel name (default: the notebook's own kernelspec)")
    run.add_argument("--json", default=None, metavar="PATH",
                     help="also write the summary as JSON to PATH")
    return parser
