"""Notebook files for the tests that run nbgrad on notebooks (CLI, pytest plugin)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import nbformat

from nbgrad.notebooks import EXPECT_FAIL_TAG


def write_notebook(path: Path, cells: Iterable[tuple[str, bool] | nbformat.NotebookNode]) -> Path:
    """A python3 notebook: each cell a ``(source, tagged expect-fail)`` pair or a ready cell."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    for cell in cells:
        if isinstance(cell, tuple):
            source, expect_fail = cell
            cell = nbformat.v4.new_code_cell(source)
            if expect_fail:
                cell.metadata["tags"] = [EXPECT_FAIL_TAG]
        notebook.cells.append(cell)
    nbformat.write(notebook, path)
    return path
