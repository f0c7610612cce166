"""``python -m nbgrad run``: notebooks as gradient and determinism tests.

Each notebook is executed through a real Jupyter kernel (nbclient), so the
checks run exactly as they do for the user; the engine is
:mod:`nbgrad.notebooks`, shared with ``pytest --nbgrad``.  Every report a
cell displayed (``application/vnd.nbgrad.report+json`` in its outputs) is
validated and collected into a summary table; the executed notebook and an
HTML export (nbconvert) are written next to each other, so CI artefacts show
the static reports.  Each notebook is isolated: one that cannot be read or
run is reported, and the others still run.

Exit status: 0 when every check passed; 1 when a check failed, a report was
invalid or a notebook raised; 2 when a notebook could not be read or run (or
for bad arguments) — a run that could not finish gives no verdict.  The
summary, and ``--json`` when asked for, are written in every case.  A cell
tagged ``nbgrad-expect-fail`` is the "show the bug" half of a bug/fix pair:
its checks must fail, and a passing check there is itself a failure.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from nbgrad.notebooks import (
    EXPECT_FAIL_TAG,
    CheckRow,
    NotebookResult,
    output_stems,
    printable,
    run_notebook,
)
from nbgrad.report import fmt
from nbgrad.report.text import table

__all__ = ["EXPECT_FAIL_TAG", "CheckRow", "NotebookResult", "main", "run_notebook", "summary",
           "summary_json"]

EXIT_OK, EXIT_FAILED, EXIT_COULD_NOT_RUN = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``nbgrad`` and ``python -m nbgrad``; returns the exit status."""
    args = _parser().parse_args(argv)
    output_dir = Path(args.output_dir)
    paths = [Path(path) for path in args.notebooks]
    results = []
    for path, stem in zip(paths, output_stems(paths), strict=True):
        try:
            result = run_notebook(path, output_dir, stem=stem, timeout=args.timeout,
                                  kernel=args.kernel)
        except Exception as error:  # the engine's own bug must not hide the other notebooks
            result = NotebookResult(str(path), error=f"could not run: internal error "
                                    f"{type(error).__name__}: {error}", error_kind="not run")
        results.append(result)
    status = exit_status(results)
    print(summary(results))
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(summary_json(results), indent=1) + "\n")
        except OSError as error:
            print(f"nbgrad run: could not write --json {args.json}: {error}", file=sys.stderr)
            status = EXIT_COULD_NOT_RUN
    return status


def exit_status(results: list[NotebookResult]) -> int:
    """2 when a notebook could not run, else 1 when anything failed, else 0."""
    if any(result.could_not_run for result in results):
        return EXIT_COULD_NOT_RUN
    return EXIT_OK if all(result.ok for result in results) else EXIT_FAILED


def summary(results: list[NotebookResult]) -> str:
    """The table printed at the end of a run, then one block per notebook that did not finish."""
    rows = [
        [row.notebook, str(row.cell), fmt.MISSING if row.execution_count is None
         else str(row.execution_count), row.kind, row.status, row.figure, row.outcome]
        for result in results for row in result.checks
    ]
    headers = ["notebook", "cell", "exec", "kind", "status", "figure", "outcome"]
    lines = table(headers, [[printable(cell) for cell in row] for row in rows]) if rows else [
        "no nbgrad reports found"]
    for result in results:
        if result.error is not None:
            verb = "could not run" if result.could_not_run else "raised"
            lines += ["", f"{printable(result.path)} {verb}:",
                      printable(result.error, keep_newlines=True)]
    failed = sum(not row.ok for result in results for row in result.checks)
    raised = sum(result.error_kind == "raised" for result in results)
    not_run = sum(result.could_not_run for result in results)
    total = sum(len(result.checks) for result in results)
    lines += ["", f"{total} checks, {failed} failed, {raised} notebooks raised, "
                  f"{not_run} could not run; outputs in {_output_dirs(results)}"]
    return "\n".join(lines)


def summary_json(results: list[NotebookResult]) -> dict[str, Any]:
    return {
        "ok": all(result.ok for result in results),
        "exit_status": exit_status(results),
        "notebooks": [
            {"path": r.path, "executed": r.executed, "html": r.html, "error": r.error,
             "error_kind": r.error_kind, "ok": r.ok}
            for r in results
        ],
        "checks": [_row_json(row) for result in results for row in result.checks],
    }


def _row_json(row: CheckRow) -> dict[str, Any]:
    # Field by field, not asdict(): that deep-copies the report, which is left out anyway
    # (the executed notebook holds the report itself).
    return {f.name: getattr(row, f.name) for f in fields(row) if f.name != "report"}


def _output_dirs(results: list[NotebookResult]) -> str:
    folders = sorted({str(Path(r.executed).parent) for r in results if r.executed})
    return ", ".join(folders) or fmt.MISSING


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nbgrad", description="Notebooks as gradient and determinism tests."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="execute notebooks and collect their nbgrad checks")
    run.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    run.add_argument("--output-dir", default="build/nbgrad",
                     help="where executed notebooks and HTML exports go (default build/nbgrad)")
    run.add_argument("--timeout", type=_positive_seconds, default=600,
                     help="seconds one cell may run (default 600)")
    run.add_argument("--kernel", default=None,
                     help="kernel name (default: the notebook's own kernelspec)")
    run.add_argument("--json", default=None, metavar="PATH",
                     help="also write the summary as JSON to PATH")
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value
