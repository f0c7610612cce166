"""CuPy-versus-numpy mode: how far the GPU run drifts from the same cell on numpy.

A GPU run that differs from numpy by a few ULPs per step is float noise
(different summation orders, fused multiply-adds); one that jumps by orders
of magnitude at some step is a bug.  The reference run starts from the same
state with every CuPy array copied to the host and every name bound to the
``cupy`` module rebound to ``numpy``; each step's tracked values are compared
with run 0's.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from nbgrad.backend import is_cupy_array, to_numpy
from nbgrad.determinism.runner import CellRunner, RunConfig, RunRecord
from nbgrad.namespace.paths import assign


def _swap_to_numpy(runner: CellRunner) -> None:
    """Rebind CuPy state and the ``cupy`` module to their numpy counterparts (restorable)."""
    namespace = runner.namespace
    for entry in runner.snapshot.arrays:
        if is_cupy_array(entry.array):
            try:
                assign(namespace, entry.path, to_numpy(entry.saved))
            except (LookupError, TypeError, AttributeError):
                continue  # inside a tuple: left on the device
    cupy = sys.modules.get("cupy")
    for scope in {id(namespace): namespace, id(runner.scope): runner.scope}.values():
        for name, value in list(scope.items()):
            if cupy is not None and value is cupy:
                scope[name] = np


def _uses_cupy(runner: CellRunner) -> bool:
    """True when the state holds CuPy arrays or a name is bound to the ``cupy`` module."""
    cupy = sys.modules.get("cupy")
    if cupy is None:
        return False
    return any(is_cupy_array(entry.array) for entry in runner.snapshot.arrays) or any(
        value is cupy for value in runner.namespace.values())


def compare_with_numpy(runner: CellRunner, run0: RunRecord) -> tuple[dict[str, Any], RunRecord]:
    """Run the numpy reference and return the report's ``comparison`` and the run record.

    A cell that already runs on numpy gets a ``note`` saying so: its column of
    zeros would otherwise read like "the GPU agrees with numpy".
    """
    on_gpu = _uses_cupy(runner)
    runner.snapshot.restore(runner.namespace)
    _swap_to_numpy(runner)
    record = runner.run(RunConfig("numpy reference"), reset=False, reference=run0)
    per_step = []
    for step, diffs in enumerate(record.diffs):
        by_variable = {n: (d.max_abs if d is not None else None) for n, d in sorted(diffs.items())}
        known = [v for v in by_variable.values() if v is not None]
        per_step.append({"step": step, "max_abs_diff": max(known) if known else None,
                         "by_variable": by_variable})
    comparison: dict[str, Any] = {"reference": "numpy", "per_step": per_step}
    if record.error is not None:
        comparison["error"] = f"{record.error.type}: {record.error.message}"
    if not on_gpu:
        comparison["note"] = ("the cell holds no CuPy arrays and no name bound to cupy: it "
                              "already ran on numpy, so the gap is zero by construction")
    return comparison, record
