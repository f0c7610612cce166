"""``pytest --nbgrad notebooks/``: every notebook, and every nbgrad check in it, as test items.

Registered through the ``pytest11`` entry point, and inert without
``--nbgrad``: no notebook is collected and no hook changes another suite.
With the flag, each ``*.ipynb`` becomes a collector whose items are

- ``cell_<N>_<kind>`` for every code cell that runs ``%gradcheck``,
  ``%%gradcheck``, ``%determinism`` or ``%%determinism`` (``_expect_fail``
  appended when the cell is tagged ``nbgrad-expect-fail``): it passes when
  every report the cell showed meets the cell's expectation;
- ``notebook``: the notebook ran to the end, and the reports of other cells
  (a ``gradcheck(...)`` called from Python) passed.  For a file that cannot
  be read it is the only item, and it fails with ``could not read: ...``.

The notebook is executed once per worker, by the first of its items that
runs, on the engine of ``nbgrad run`` (:func:`nbgrad.notebooks.run_notebook`:
outputs cleared, a real kernel through nbclient, every report validated).
A failing item's text is the check's outcome and headline followed by the
report's own text rendering (the flagged elements and findings).  Under
pytest-xdist (``-n 2``) the default ``--dist load`` becomes ``loadfile`` so
that a notebook's items stay on one worker and its kernel runs once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbgrad.notebooks import (
    CHECK_MAGIC,
    CheckRow,
    NotebookReadError,
    NotebookResult,
    check_cells,
    is_expect_fail,
    printable,
    read_notebook,
    run_notebook,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("nbgrad", "nbgrad notebook checks")
    group.addoption("--nbgrad", action="store_true", default=False,
                    help="collect *.ipynb files and run their nbgrad checks as tests")
    group.addoption("--nbgrad-timeout", type=float, default=600, metavar="SECONDS",
                    help="seconds one notebook cell may run (default 600)")
    group.addoption("--nbgrad-kernel", default=None, metavar="NAME",
                    help="kernel name (default: each notebook's own kernelspec)")
    group.addoption("--nbgrad-output-dir", default=None, metavar="DIR",
                    help="also write the executed notebooks and HTML exports to DIR")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("nbgrad") and getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadfile"  # one kernel per notebook, not one per worker


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if (parent.config.getoption("nbgrad") and file_path.suffix == ".ipynb"
            and ".ipynb_checkpoints" not in file_path.parts):
        return NotebookFile.from_parent(parent, path=file_path)
    return None


class CheckFailed(Exception):
    """A notebook check did not meet its expectation; the message is the failure text."""


class NotebookFile(pytest.File):
    """One notebook: executed once (lazily), its checks as items."""

    _result: NotebookResult | None = None

    def collect(self) -> list[pytest.Item]:
        try:
            notebook = read_notebook(self.path)
        except NotebookReadError as error:
            return [NotebookItem.from_parent(self, name="notebook", unreadable=str(error))]
        items: list[pytest.Item] = []
        for index in check_cells(notebook):
            cell = notebook.cells[index]
            match = CHECK_MAGIC.search(cell.source)
            name = f"cell_{index}_{match.group(1) if match else 'check'}"
            expect_fail = is_expect_fail(cell)
            items.append(CheckItem.from_parent(
                self, name=name + "_expect_fail" * expect_fail, cell=index))
        items.append(NotebookItem.from_parent(self, name="notebook", checked=frozenset(
            item.cell for item in items if isinstance(item, CheckItem))))
        return items

    def result(self) -> NotebookResult:
        """Execute the notebook on first use; every item of this file reads the same result."""
        if self._result is None:
            option = self.config.getoption
            output_dir = option("nbgrad_output_dir")
            self._result = run_notebook(
                self.path, None if output_dir is None else Path(output_dir),
                stem=_stem(self.path, self.config.rootpath), timeout=option("nbgrad_timeout"),
                kernel=option("nbgrad_kernel"),
            )
        return self._result


class _NotebookItemBase(pytest.Item):
    parent: NotebookFile

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str | Any:
        if excinfo.errisinstance(CheckFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


class CheckItem(_NotebookItemBase):
    """The checks one code cell runs; passes when each meets the cell's expectation."""

    def __init__(self, *, cell: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell = cell

    def runtest(self) -> None:
        result = self.parent.result()
        if result.could_not_run:
            raise CheckFailed(printable(result.error, keep_newlines=True))
        rows = [row for row in result.checks if row.cell == self.cell]
        raised_here = result.error_kind == "raised" and result.error_cell == self.cell
        if raised_here or (not rows and result.error_kind == "raised"
                           and (result.error_cell or 0) < self.cell):
            where = "this cell" if raised_here else f"cell {result.error_cell}, before this one,"
            raise CheckFailed(f"{where} raised:\n{printable(result.error, keep_newlines=True)}")
        if not rows:
            raise CheckFailed(f"cell {self.cell} ran but showed no nbgrad report")
        failed = [row for row in rows if not row.ok]
        if failed:
            raise CheckFailed("\n\n".join(map(failure_text, failed)))


class NotebookItem(_NotebookItemBase):
    """The notebook as a whole: it could be read, it ran, and reports outside check cells passed."""

    def __init__(self, *, unreadable: str | None = None, checked: frozenset[int] = frozenset(),
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.unreadable = unreadable
        self.checked = checked

    def runtest(self) -> None:
        if self.unreadable is not None:
            raise CheckFailed(printable(self.unreadable))
        result = self.parent.result()
        if result.error is not None and (result.error_kind != "raised"
                                         or result.error_cell not in self.checked):
            raise CheckFailed(printable(result.error, keep_newlines=True))
        failed = [row for row in result.checks if row.cell not in self.checked and not row.ok]
        if failed:
            raise CheckFailed("\n\n".join(map(failure_text, failed)))


def failure_text(row: CheckRow) -> str:
    """The outcome and headline, then the report's own text rendering (flagged elements)."""
    lines = [f"cell {row.cell}: {row.kind} {row.outcome}" + (f": {row.headline}"
                                                             if row.headline else "")]
    if row.report is not None:
        from nbgrad.report.text import render_text

        lines += ["", printable(render_text(row.report), keep_newlines=True)]
    return "\n".join(lines)


def _stem(path: Path, root: Path) -> str:
    """Output file stem unique within the run: the path under the rootdir, joined by ``-``."""
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        relative = Path(path.name)
    return "-".join(relative.with_suffix("").parts)
