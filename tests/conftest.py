"""Shared fixtures: a real IPython shell with nbgrad loaded, and the GPU skip rule.

The magics are tested through :class:`IPython.core.interactiveshell.InteractiveShell`
itself (``run_cell`` parses ``%``/``%%`` lines exactly as a notebook kernel
does), never through mocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from nbgrad.backend import cupy_module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``@pytest.mark.gpu`` skip cleanly without CuPy and a CUDA device."""
    if cupy_module() is not None:
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _nbgrad_shell() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "nbgrad")
    return shell


@pytest.fixture
def shell(_nbgrad_shell: InteractiveShell) -> Iterator[InteractiveShell]:
    """The session's shell with ``%load_ext nbgrad`` done and an empty user namespace."""
    _nbgrad_shell.reset(new_session=False)
    _nbgrad_shell.run_cell("import numpy as np")
    yield _nbgrad_shell
    _nbgrad_shell.reset(new_session=False)


@pytest.fixture
def run_cell(shell: InteractiveShell) -> Callable[[str], Any]:
    """Run a cell that must succeed and return its value (what ``Out`` would show)."""

    def run(source: str) -> Any:
        result = shell.run_cell(source)
        if not result.success:
            error = result.error_before_exec or result.error_in_exec
            raise AssertionError(f"cell failed: {error!r}\n{source}")
        return result.result

    return run
