"""Every numerics module's docstring examples run (ε^⅓ optimum, Richardson, group tests)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["steps", "numeric", "compare", "noise", "full", "fast", "taylor", "diagnoses"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run_and_cite_references(name: str) -> None:
    module = importlib.import_module(f"nbgrad.gradcheck.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
    assert "References:" in (module.__doc__ or "") or any(
        "References:" in (getattr(value, "__doc__", None) or "") for value in vars(module).values()
    )
