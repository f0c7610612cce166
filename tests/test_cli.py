"""``python -m nbgrad run``: real kernels execute small notebooks that display fixture reports."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from nbgrad import gradcheck
from nbgrad.cli import EXPECT_FAIL_TAG, main
from nbgrad.notebooks import figure
from tests.notebook_files import write_notebook as notebook_file

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "reports"

SETUP = f'''
import json
from nbgrad.report import Report

class FixtureReport(Report):
    """A report object whose dictionary comes from a fixture file."""
    kind = "fixture"

    def __init__(self, name):
        with open({str(FIXTURE_DIR)!r} + "/" + name + ".json") as f:
            self.report = json.load(f)

    def to_dict(self):
        return self.report
'''


def write_notebook(path: Path, cells: list[tuple[str, bool]]) -> Path:
    """A notebook: the setup cell, then one cell per (source, tagged expect-fail)."""
    return notebook_file(path, [(SETUP, False), *cells])


def fixture_cell(name: str) -> str:
    return f'FixtureReport("{name}")'


def load(name: str) -> dict:
    return json.loads((FIXTURE_DIR / f"{name}.json").read_text())


@pytest.mark.kernel
def test_bug_and_fix_notebook_passes_and_is_exported(tmp_path: Path, capsys) -> None:
    notebook = write_notebook(tmp_path / "bug_and_fix.ipynb", [
        (fixture_cell("gradcheck_seed003_regularisation"), True),
        (fixture_cell("gradcheck_pass"), False),
        ("from IPython.display import display\n"
         + 'display(FixtureReport("determinism_deterministic"))\n1 + 1', False),
    ])
    status = main(["run", str(notebook), "--output-dir", str(tmp_path / "out"),
                   "--timeout", "60", "--kernel", "python3"])
    printed = capsys.readouterr().out
    assert status == 0, printed
    rows = [line.split() for line in printed.splitlines() if line.startswith("bug_and_fix")]
    assert [row[1:5] for row in rows] == [["1", "2", "gradcheck", "fail"],
                                         ["2", "3", "gradcheck", "pass"],
                                         ["3", "4", "determinism", "deterministic"]]
    assert "failed as expected" in printed
    assert "3 checks, 0 failed, 0 notebooks raised, 0 could not run" in printed
    assert "max rel err 3.43e-01" in printed
    executed = nbformat.read(tmp_path / "out" / "bug_and_fix.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["data"]["application/vnd.nbgrad.report+json"] == load(
        "gradcheck_seed003_regularisation")
    export = (tmp_path / "out" / "bug_and_fix.html").read_text()
    for name in ("gradcheck_seed003_regularisation", "gradcheck_pass",
                 "determinism_deterministic"):
        report = load(name)
        assert f'class="nbgrad-report nbgrad-{report["id"]}"' in export
        assert html.escape(report["headline"]) in export


@pytest.mark.kernel
def test_failures_unexpected_passes_and_errors_fail_the_run(tmp_path: Path, capsys) -> None:
    failing = write_notebook(tmp_path / "failing.ipynb", [(fixture_cell("gradcheck_scale"), False)])
    surprise = write_notebook(tmp_path / "surprise.ipynb",
                              [(fixture_cell("gradcheck_pass"), True), ("x = 1", True)])
    broken = write_notebook(tmp_path / "broken.ipynb", [
        (fixture_cell("determinism_unseeded_rng"), False), ("1 / 0", False),
        (fixture_cell("gradcheck_pass"), False)])
    summary = tmp_path / "summary.json"
    status = main(["run", str(failing), str(surprise), str(broken), "--output-dir",
                   str(tmp_path / "out"), "--json", str(summary), "--timeout", "60"])
    printed = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in next(line for line in printed.splitlines() if line.startswith("failing"))
    assert "UNEXPECTED PASS: expected this check to fail" in printed
    assert f"NO REPORT in a cell tagged {EXPECT_FAIL_TAG}" in printed
    assert "broken.ipynb raised:" in printed and "ZeroDivisionError" in printed
    collected = json.loads(summary.read_text())
    assert collected["ok"] is False
    assert [(c["notebook"], c["cell"], c["ok"]) for c in collected["checks"]] == [
        ("failing.ipynb", 1, False), ("surprise.ipynb", 1, False), ("surprise.ipynb", 2, False),
        ("broken.ipynb", 1, False)]
    assert collected["checks"][3]["figure"] == "step 0: W (unseeded_rng)"
    errors = {Path(n["path"]).name: n["error"] for n in collected["notebooks"]}
    assert errors["failing.ipynb"] is None and "ZeroDivisionError" in errors["broken.ipynb"]
    assert (tmp_path / "out" / "broken.html").is_file(), "a notebook that raised is still exported"


def test_module_entry_point_reports_a_missing_notebook_as_could_not_run(tmp_path: Path) -> None:
    missing = tmp_path / "nope.ipynb"
    result = subprocess.run([sys.executable, "-m", "nbgrad", "run", str(missing), "--output-dir",
                             str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"{missing} could not run:\ncould not read: no such file {missing}" in result.stdout
    assert "0 checks, 0 failed, 0 notebooks raised, 1 could not run" in result.stdout


def test_usage_errors_exit_with_status_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["run"])
    assert exit_info.value.code == 2
    assert "NOTEBOOK" in capsys.readouterr().err


def test_a_flat_cost_is_summarised_as_flat_not_by_its_tiny_error() -> None:
    def cosine_of_scalars(p):  # seed 002: the sign of a product never changes locally
        u, v = np.tanh(p[0]), np.tanh(p[1])
        return float(u * v / abs(u * v)), 0 * p

    report = gradcheck(cosine_of_scalars, np.array([0.3, -0.7])).to_dict()
    assert report["diagnoses"] == ["flat"]
    assert figure(report) == "flat cost: nothing to train"
