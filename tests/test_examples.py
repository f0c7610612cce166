"""Every ``examples/*.ipynb`` runs through a real Jupyter kernel and shows what it promises.

Notebooks are executed the way ``make demo`` executes them
(:func:`nbgrad.cli.run_notebook`: nbclient, the ``python3`` kernel of this
environment), once per test session.  The generic test holds for every
notebook in the folder, including ones added later: it must run without an
error, show at least one report, and every check must meet its cell's
expectation (cells tagged ``nbgrad-expect-fail`` fail, all others pass).  The
per-seed tests then read the reports themselves, as JSON, from the outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbgrad.cli import EXPECT_FAIL_TAG, NotebookResult, run_notebook
from nbgrad.report.base import MIME_TYPE

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.ipynb"))

pytestmark = pytest.mark.kernel


class Executed:
    """One executed example: the CLI's verdict and the reports in its outputs, in cell order."""

    def __init__(self, result: NotebookResult) -> None:
        self.result = result
        self.notebook = notebook = nbformat.read(result.executed, as_version=4)
        self.reports: list[tuple[bool, dict[str, Any]]] = [
            (EXPECT_FAIL_TAG in cell.metadata.get("tags", []), output["data"][MIME_TYPE])
            for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if MIME_TYPE in output.get("data", {})
        ]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [report for _, report in self.reports if report["kind"] == kind]


@pytest.fixture(scope="session")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Executed]:
    """``executed("seed003")``: the example whose file name starts so, run once per session."""
    output_dir = tmp_path_factory.mktemp("examples")
    cache: dict[Path, Executed] = {}

    def run(prefix: str) -> Executed:
        matches = [path for path in EXAMPLES if path.name.startswith(prefix)]
        assert len(matches) == 1, f"expected one examples/{prefix}*.ipynb, found {matches}"
        path = matches[0]
        if path not in cache:
            cache[path] = Executed(run_notebook(path, output_dir, timeout=120, kernel="python3"))
        return cache[path]

    return run


def block(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in report["blocks"] if b["name"] == name)


def test_the_examples_folder_holds_the_seed_notebooks():
    names = [path.name for path in EXAMPLES]
    for prefix in ("seed000", "seed001", "seed002", "seed003"):
        assert any(name.startswith(prefix) for name in names), names


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.stem for path in EXAMPLES])
def test_example_runs_and_every_check_meets_its_cells_expectation(path, executed):
    example = executed(path.name)
    assert example.result.error is None, example.result.error
    assert example.reports, f"{path.name} shows no nbgrad report"
    for row in example.result.checks:
        assert row.ok, f"{path.name} cell {row.cell}: {row.outcome} ({row.headline})"
    assert any(expect_fail for expect_fail, _ in example.reports), "no bug is shown failing"
    assert any(not expect_fail for expect_fail, _ in example.reports), "no fix is shown passing"


def test_saved_examples_are_clean():
    for path in EXAMPLES:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, path.name
        assert notebook.cells[1].source.startswith("%load_ext nbgrad"), path.name


def test_seed003_reports_the_theta2_bias_column_then_passes_the_fix(executed):
    buggy, fixed = executed("seed003").of_kind("gradcheck")
    assert not buggy["passed"]
    theta1, theta2 = block(buggy, "Theta1"), block(buggy, "Theta2")
    assert theta1["shape"] == [5, 4] and theta2["shape"] == [3, 6]
    assert theta1["passed"]  # the posted reg term removes Theta1's bias correctly
    assert theta2["n_flagged"] == 3
    assert all(index % 6 == 0 for index in theta2["flagged"])  # column 0 of the 3x6 block
    wrong = [element for element in theta2["worst"] if element["index"] in theta2["flagged"]]
    assert sorted(element["multi_index"] for element in wrong) == [[0, 0], [1, 0], [2, 0]]
    bias = [f for f in buggy["findings"] if f["block"] == "Theta2" and "bias" in f["message"]]
    assert bias, buggy["findings"]
    assert fixed["passed"] and fixed["max_rel_error"] < 1e-8  # full mode's accuracy goal: tol/100


def test_seed001_fused_update_fails_at_the_recurrent_layer_then_passes(executed):
    example = executed("seed001")
    buggy, fixed = example.of_kind("gradcheck")
    assert not buggy["passed"]
    assert block(buggy, "NN.BC")["passed"]
    assert not block(buggy, "NN.AB")["passed"] and not block(buggy, "NN.B_RNN")["passed"]
    assert fixed["passed"]
    assert [b["name"] for b in fixed["blocks"]] == ["NN.AB", "NN.BC", "NN.B_RNN"]
    untouched = example.notebook.cells[-1].outputs[0]["data"]["text/plain"]
    assert untouched == "True"  # the notebook's own identity-and-bytes check of NN


def test_seed002_one_output_unit_is_flat_six_units_check_out(executed):
    one_unit, six_units = executed("seed002").of_kind("gradcheck")
    assert "flat" in one_unit["diagnoses"]
    assert six_units["passed"] and "flat" not in six_units["diagnoses"]


def test_seed000_finds_uninitialised_memory_then_the_zeros_fix_is_deterministic(executed):
    reports = executed("seed000").of_kind("determinism")
    buggy, fixed = reports[0], reports[-1]
    assert not buggy["deterministic"]
    assert buggy["first_divergence"]["cause"] == "uninitialized_memory"
    assert buggy["first_divergence"]["allocation"] is not None
    # bptt is defined in a notebook cell (ipykernel's /tmp/ipykernel_<pid>/<hash>.py): no file
    # name, which would only show that temporary path
    assert buggy["first_divergence"]["file"] is None
    assert ".py" not in buggy["headline"]
    assert fixed["deterministic"] and fixed["first_divergence"] is None
