"""The seed-000 example notebook executed with CuPy in a real kernel (GPU only).

Without a GPU the notebook falls back to numpy (tests/test_examples.py); here
its ``import cupy as cp`` succeeds, so both determinism reports must say
``backend: cupy`` and tell seed 000's story on the device.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from gpu_support import cp  # noqa: F401  (skips this module without CuPy and a device)

from nbgrad.cli import EXPECT_FAIL_TAG, run_notebook
from nbgrad.report.base import MIME_TYPE

pytestmark = [pytest.mark.gpu, pytest.mark.kernel]

SEED000 = Path(__file__).resolve().parents[1] / "examples" / "seed000_convlstm_determinism.ipynb"


@pytest.mark.timeout(150)
def test_seed000_notebook_runs_on_cupy_and_tells_its_story(tmp_path):
    result = run_notebook(SEED000, tmp_path, timeout=120, kernel="python3")
    assert result.error is None and result.ok, result.error
    notebook = nbformat.read(result.executed, as_version=4)
    reports = [(EXPECT_FAIL_TAG in cell.metadata.get("tags", []), output["data"][MIME_TYPE])
               for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", []) if MIME_TYPE in output.get("data", {})]
    assert [(expect_fail, r["kind"]) for expect_fail, r in reports] == [
        (True, "determinism"), (False, "determinism")]
    (_, buggy), (_, fixed) = reports
    assert buggy["backend"] == fixed["backend"] == "cupy"
    d = buggy["first_divergence"]
    assert (d["step"], d["variable"], d["cause"]) == (0, "dLdb_c", "uninitialized_memory")
    assert d["source"] == "dLdb_c += dLda_hat" and "cp.empty" in d["allocation"]["source"]
    assert fixed["deterministic"]
