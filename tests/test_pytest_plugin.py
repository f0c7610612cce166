"""``pytest --nbgrad``: pytest itself (a subprocess, as in CI) collects and runs notebooks.

The plugin is found through its ``pytest11`` entry point, exactly as after
``pip install nbgrad``; every run below is a separate ``python -m pytest``
with real kernels, including pytest-xdist workers and the JUnit XML a CI
server reads.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from nbgrad.notebooks import check_cells
from nbgrad.report.base import MIME_TYPE
from tests.notebook_files import write_notebook as notebook

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"

pytestmark = pytest.mark.kernel

SETUP = "%load_ext nbgrad\nimport numpy as np\nw = np.array([0.5, -1.0, 2.0, 0.25])"
RIGHT = "def cost(w):\n    return 0.5 * np.sum(w ** 2), w.copy()"
WRONG = ("def cost(w):\n    g = w.copy()\n    g[2] = -g[2]  # the bug: one element's sign\n"
         "    return 0.5 * np.sum(w ** 2), g")
CHECK = "%gradcheck cost(w) --wrt w"


def pytest_run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--nbgrad-kernel", "python3",
         *args], cwd=cwd, capture_output=True, text=True, timeout=600,
    )


def junit_cases(path: Path) -> dict[str, ET.Element]:
    """``{"bad.ipynb::cell_2_gradcheck": <testcase>}`` (the classname holds the folders too)."""
    return {".".join(case.get("classname").split(".")[-2:]) + f"::{case.get('name')}": case
            for case in ET.parse(path).getroot().iter("testcase")}


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of notebooks: a bug/fix pair that passes, a failing one, an unreadable one."""
    folder = tmp_path_factory.mktemp("notebooks")
    notebook(folder / "good.ipynb", [(SETUP, False), (WRONG, False), (CHECK, True),
                                     (RIGHT, False), (CHECK, False)])
    notebook(folder / "bad.ipynb", [(SETUP, False), (WRONG, False), (CHECK, False),
                                    (RIGHT, False), (CHECK, True)])
    (folder / "broken.ipynb").write_text("{ not json")
    return folder


def test_examples_pass_under_xdist_and_junit_xml_lists_every_check(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    result = pytest_run("--nbgrad", str(EXAMPLES_DIR), "-n", "2", "-v", f"--junitxml={junit}",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 workers" in result.stdout
    workers = re.findall(r"\[(gw\d)\] .*?PASSED \S*?([\w.]+\.ipynb)::", result.stdout)
    by_notebook = {name: {w for w, n in workers if n == name} for _, name in workers}
    assert len(by_notebook) == len(list(EXAMPLES_DIR.glob("*.ipynb")))
    assert all(len(used) == 1 for used in by_notebook.values()), by_notebook  # one kernel each
    cases = junit_cases(junit)
    for path in sorted(EXAMPLES_DIR.glob("*.ipynb")):
        cells = check_cells(nbformat.read(path, as_version=4))
        names = {name.split("::")[1] for name in cases if name.startswith(f"{path.name}::")}
        assert {name.split("_")[1] for name in names - {"notebook"}} == set(map(str, cells))
        assert "notebook" in names
    assert all(len(case) == 0 for case in cases.values()), "a failure or skip element"
    assert any(name.endswith("_expect_fail") for name in cases)


def test_failing_checks_report_headline_and_flagged_elements(suite: Path, tmp_path: Path) -> None:
    junit, out = tmp_path / "junit.xml", tmp_path / "out"
    result = pytest_run("--nbgrad", str(suite), f"--junitxml={junit}",
                        f"--nbgrad-output-dir={out}", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    cases = junit_cases(junit)
    outcome = {name: "failed" if case.find("failure") is not None else "passed"
               for name, case in cases.items()}
    assert outcome == {
        "bad.ipynb::cell_2_gradcheck": "failed", "bad.ipynb::cell_4_gradcheck_expect_fail":
        "failed", "bad.ipynb::notebook": "passed", "broken.ipynb::notebook": "failed",
        "good.ipynb::cell_2_gradcheck_expect_fail": "passed", "good.ipynb::cell_4_gradcheck":
        "passed", "good.ipynb::notebook": "passed",
    }
    executed = nbformat.read(next(out.glob("*bad.ipynb")), as_version=4)  # stem: path under rootdir
    report = executed.cells[2].outputs[0]["data"][MIME_TYPE]
    assert report["status"] == "fail"
    failure = cases["bad.ipynb::cell_2_gradcheck"].find("failure")
    text = failure.get("message") + (failure.text or "")
    assert f"cell 2: gradcheck FAILED: {report['headline']}" in text
    flagged = [e for block in report["blocks"] for e in block["worst"]
               if e["rel_error"] is not None and e["rel_error"] > block["tolerance"]]
    assert [e["multi_index"] for e in flagged] == [[2]]
    assert "w[2]" in text  # the flagged element, as the text rendering lists it
    surprise = cases["bad.ipynb::cell_4_gradcheck_expect_fail"].find("failure").get("message")
    assert "UNEXPECTED PASS: expected this check to fail" in surprise
    unreadable = cases["broken.ipynb::notebook"].find("failure").get("message")
    assert unreadable.startswith("could not read: not JSON")
    assert "Traceback" not in result.stdout
    assert json.loads(next(out.glob("*good.ipynb")).read_text())["cells"][2]["outputs"]


def test_k_selects_checks_and_x_stops_at_the_first_failure(suite: Path, tmp_path: Path) -> None:
    selected = pytest_run("--nbgrad", str(suite), "-k", "expect_fail", cwd=tmp_path)
    assert "1 failed, 1 passed, 5 deselected" in selected.stdout, selected.stdout
    stopped = pytest_run("--nbgrad", str(suite), "-x", cwd=tmp_path)
    assert stopped.returncode == 1
    assert "stopping after 1 failures" in stopped.stdout and " 1 failed in " in stopped.stdout


def test_without_the_flag_notebooks_are_not_collected(suite: Path, tmp_path: Path) -> None:
    result = pytest_run(str(suite), cwd=tmp_path)
    assert result.returncode == 5, result.stdout  # pytest's "no tests were collected"
    assert "no tests ran" in result.stdout
