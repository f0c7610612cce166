"""Notebooks as tests: read, clear, execute through a real kernel, collect the checks.

The one engine behind ``python -m nbgrad run`` (:mod:`nbgrad.cli`) and
``pytest --nbgrad`` (:mod:`nbgrad.pytest_plugin`); both only present what
:func:`run_notebook` returns.  It fails closed and never raises:

- a notebook that cannot be read (missing, empty, not JSON, not a notebook,
  an nbformat this library does not know) is a result with
  ``error_kind == "unreadable"`` and the message ``could not read: ...``;
  a kernel that cannot start or dies is ``"not run"``; both mean *could not
  run* (exit status 2), distinct from a check that failed (exit status 1);
- outputs saved in the file are cleared before execution, so only reports
  this run produced count (an old ``pass`` of a later cell cannot survive an
  error in an earlier one);
- every report is validated against the schema (:mod:`nbgrad.report.schema`);
  an invalid one, an unknown ``version`` or ``status`` included, is a failed
  row whose outcome gives the reason;
- text meant for a terminal goes through :func:`printable`, so a forged
  status cannot send escape codes.

A cell tagged ``nbgrad-expect-fail`` is the "show the bug" half of a bug/fix
pair: its checks must fail, and a passing check there is itself a failure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbgrad.errors import NbgradError
from nbgrad.report import fmt
from nbgrad.report.base import MIME_TYPE

EXPECT_FAIL_TAG = "nbgrad-expect-fail"
FAILING_STATUSES = frozenset({"fail", "diverged", "error"})
#: ``error_kind`` values that mean the notebook could not run (exit status 2).
COULD_NOT_RUN = frozenset({"unreadable", "not run"})
#: A code cell whose source runs a check: the plugin makes each one a test item.
CHECK_MAGIC = re.compile(r"(?m)^\s*(?:[\w.\[\]'\", ]+=\s*)?%%?(gradcheck|determinism)\b")

_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class NotebookReadError(NbgradError, ValueError):
    """A file given as a notebook is not one nbgrad can run (the message says why)."""


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
    #: The report as the cell displayed it, when it passed validation (else None).
    report: dict[str, Any] | None = field(default=None, repr=False)


@dataclass
class NotebookResult:
    path: str
    executed: str | None = None
    html: str | None = None
    error: str | None = None
    #: None, "unreadable", "not run" (kernel could not start/died) or "raised" (a cell raised).
    error_kind: str | None = None
    #: Index of the cell that raised, for ``error_kind == "raised"``.
    error_cell: int | None = None
    checks: list[CheckRow] = field(default_factory=list)

    @property
    def could_not_run(self) -> bool:
        return self.error_kind in COULD_NOT_RUN

    @property
    def ok(self) -> bool:
        return self.error is None and all(row.ok for row in self.checks)


def printable(text: Any, keep_newlines: bool = False) -> str:
    """``text`` with ANSI colour codes dropped and other control characters escaped.

    >>> printable("PASS\\x1b[2J!\\x07")
    'PASS\\\\x1b[2J!\\\\x07'
    >>> printable("a\\nb", keep_newlines=True)
    'a\\nb'
    """
    text = str(text)
    if keep_newlines:
        return "\n".join(printable(line) for line in text.split("\n"))
    return _CONTROL.sub(lambda match: repr(match.group())[1:-1], text)


def read_notebook(path: Path) -> Any:
    """The notebook at ``path`` as nbformat v4, or :class:`NotebookReadError` saying why not."""
    import nbformat

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotebookReadError(f"could not read: no such file {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise NotebookReadError(f"could not read: {error}") from None
    if not text.strip():
        raise NotebookReadError("could not read: the file is empty (expected notebook JSON)")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookReadError(
            f"could not read: not JSON ({error.msg} at line {error.lineno}, "
            f"column {error.colno}); expected a .ipynb notebook"
        ) from None
    if not isinstance(document, dict):
        raise NotebookReadError(
            f"could not read: the file holds a JSON {type(document).__name__}, not a notebook "
            "(expected an object with 'cells', 'metadata' and 'nbformat')"
        )
    version = document.get("nbformat")
    if version not in (3, 4):
        raise NotebookReadError(
            f"could not read: nbformat {version!r} is not a notebook version nbgrad reads "
            "(expected 4, or 3 which is converted)"
        )
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except Exception as error:  # nbformat raises jsonschema and its own errors
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise NotebookReadError(f"could not read: not a valid notebook: {first}") from None
    return notebook


def clear_outputs(notebook: Any) -> None:
    """Drop every saved output and execution count: only this run's reports may count."""
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None


def check_cells(notebook: Any) -> list[int]:
    """Indices of the code cells that run a check (a magic) or are tagged expect-fail."""
    return [
        index for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        and (CHECK_MAGIC.search(cell.source) or is_expect_fail(cell))
    ]


def is_expect_fail(cell: Any) -> bool:
    tags = cell.get("metadata", {}).get("tags", [])
    return isinstance(tags, list) and EXPECT_FAIL_TAG in tags


def run_notebook(path: Path, output_dir: Path | None = None, *, stem: str | None = None,
                 timeout: float = 600, kernel: str | None = None) -> NotebookResult:
    """Read, clear and execute one notebook, write it and its HTML export, collect its checks.

    Never raises for a bad notebook, a dead kernel or an unwritable output:
    the result's ``error`` and ``error_kind`` say what happened.  Without
    ``output_dir`` nothing is written.
    """
    result = NotebookResult(str(path))
    try:
        notebook = read_notebook(path)
    except NotebookReadError as error:
        result.error, result.error_kind = str(error), "unreadable"
        return result
    clear_outputs(notebook)
    _execute(notebook, path, result, timeout, kernel)
    result.checks = collect_checks(notebook, path.name)
    if output_dir is not None:
        _write_outputs(notebook, output_dir, stem or path.stem, result)
    return result


def _execute(notebook: Any, path: Path, result: NotebookResult, timeout: float,
             kernel: str | None) -> None:
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    options: dict[str, Any] = {"timeout": timeout,
                               "resources": {"metadata": {"path": str(path.parent.resolve())}}}
    if kernel:
        options["kernel_name"] = kernel
    try:
        NotebookClient(notebook, **options).execute()
    except (CellExecutionError, CellTimeoutError) as error:
        result.error = _ANSI_ESCAPE.sub("", str(error)).strip()
        result.error_kind = "raised"
        result.error_cell = _failed_cell(notebook)
    except DeadKernelError as error:
        result.error, result.error_kind = f"could not run: the kernel died ({error})", "not run"
    except Exception as error:  # no kernel, cannot start: report it, keep the others going
        result.error = f"could not run: {type(error).__name__}: {error}"
        result.error_kind = "not run"


def _failed_cell(notebook: Any) -> int | None:
    """The cell whose outputs hold the error (nbclient stops after it)."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and any(
            output.get("output_type") == "error" for output in cell.get("outputs", [])
        ):
            return index
    started = [i for i, c in enumerate(notebook.cells)
               if c.cell_type == "code" and c.get("execution_count") is not None]
    return started[-1] if started else None  # a timeout: the last cell that started


def _write_outputs(notebook: Any, output_dir: Path, stem: str, result: NotebookResult) -> None:
    import nbformat
    from nbconvert import HTMLExporter

    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        executed = output_dir / f"{stem}.ipynb"
        nbformat.write(notebook, executed)
        result.executed = str(executed)
        body, _resources = HTMLExporter().from_notebook_node(notebook)
        html = output_dir / f"{stem}.html"
        html.write_text(body, encoding="utf-8")
        result.html = str(html)
    except Exception as error:  # a full disk or an odd output must not hide the verdicts
        message = f"could not write the outputs to {output_dir}: {type(error).__name__}: {error}"
        result.error = message if result.error is None else f"{result.error}\n{message}"
        result.error_kind = result.error_kind or "not run"


def collect_checks(notebook: Any, name: str) -> list[CheckRow]:
    """Every nbgrad report in the notebook's outputs, in cell order.

    A cell tagged ``nbgrad-expect-fail`` that ran but showed no report is a
    row of its own: the failure it was meant to demonstrate went missing.
    """
    rows = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        expect_fail = is_expect_fail(cell)
        count = cell.get("execution_count")
        reports = [
            output["data"][MIME_TYPE]
            for output in cell.get("outputs", [])
            if output.get("output_type") in ("display_data", "execute_result")
            and isinstance(output.get("data"), dict) and MIME_TYPE in output["data"]
        ]
        rows += [check_row(name, index, count, report, expect_fail) for report in reports]
        if expect_fail and not reports and count is not None:
            rows.append(CheckRow(name, index, count, fmt.MISSING, fmt.MISSING, fmt.MISSING,
                                 True, False, f"NO REPORT in a cell tagged {EXPECT_FAIL_TAG}", ""))
    return rows


def check_row(name: str, cell: int, count: int | None, report: Any,
              expect_fail: bool) -> CheckRow:
    """One report's verdict; a report that breaks the schema fails, with the reason."""
    problems = _report_problems(report)
    if not problems:
        try:
            shown = figure(report)
        except (KeyError, TypeError, AttributeError) as error:  # the schema let it through
            problems = [f"the report has no usable figure ({type(error).__name__}: {error})"]
    if problems:
        kind = report.get("kind") if isinstance(report, dict) else None
        status = report.get("status") if isinstance(report, dict) else None
        return CheckRow(name, cell, count, printable(kind or fmt.MISSING),
                        printable(status or fmt.MISSING), fmt.MISSING, expect_fail, False,
                        f"INVALID REPORT: {printable(problems[0])}", "")
    failed = report["status"] in FAILING_STATUSES
    if expect_fail:
        ok, outcome = failed, "failed as expected" if failed else (
            "UNEXPECTED PASS: expected this check to fail")
    else:
        ok, outcome = not failed, "FAILED" if failed else "ok"
    return CheckRow(name, cell, count, report["kind"], report["status"], printable(shown),
                    expect_fail, ok, outcome, printable(report["headline"]), report)


def _report_problems(report: Any) -> list[str]:
    from nbgrad.report.schema import report_problems

    if not isinstance(report, dict):
        return [f"the report is a JSON {type(report).__name__}, not an object "
                "(see docs/report-schema.md)"]
    try:
        return report_problems(report)
    except Exception as error:  # a validator that chokes on it: still a failure, with the reason
        return [f"the report could not be validated: {type(error).__name__}: {error}"]


def figure(report: dict[str, Any]) -> str:
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
