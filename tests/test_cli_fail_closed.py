"""``nbgrad run`` under abuse: it never crashes and never fails open.

Unreadable notebooks, forged or malformed reports, stale saved outputs and
escape codes in a report are what a hostile (or just unlucky) user feeds it.
The forged-report family is a hypothesis property over mutations of real
fixture reports; the rest runs the CLI itself on a real kernel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from nbgrad.cli import summary
from nbgrad.notebooks import NotebookResult, check_row, printable, run_notebook
from nbgrad.report.base import MIME_TYPE
from nbgrad.report.schema import report_problems
from tests.notebook_files import write_notebook

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "reports"
FIXTURES = sorted(path.stem for path in FIXTURE_DIR.glob("*.json"))


def load(name: str) -> dict:
    return json.loads((FIXTURE_DIR / f"{name}.json").read_text())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                               max_size=3),
    max_leaves=6,
)


@st.composite
def forged_reports(draw: st.DrawFn) -> dict:
    """A fixture report with one field replaced by something the contract does not allow."""
    report = load(draw(st.sampled_from(FIXTURES)))
    forgery = draw(st.sampled_from(["version", "status", "drop", "replace"]))
    if forgery == "version":
        report["version"] = draw(st.integers().filter(lambda v: v != 1) | st.text(max_size=3))
    elif forgery == "status":
        report["status"] = draw(st.text(max_size=12).filter(
            lambda s: s not in {"pass", "fail", "deterministic", "diverged", "error"}))
    elif forgery == "drop":
        del report[draw(st.sampled_from(["kind", "version", "status", "headline", "id"]))]
    else:
        report[draw(st.sampled_from(sorted(report)))] = draw(json_values)
        assume(report_problems(report))  # a replacement the contract allows is no forgery
    return report


@given(forged_reports(), st.booleans())
@settings(max_examples=150, deadline=None)
@example(dict(load("gradcheck_pass"), status="PASS!!"), False)
@example(dict(load("gradcheck_pass"), version=99), False)
@example(dict(load("gradcheck_scale"), status="fail", version=99), True)  # expect-fail: no pass
@example(dict(load("determinism_unseeded_rng"), first_divergence={"variable": "W"}), False)
@example(dict(load("determinism_error_run0"), error="str"), False)
@example(dict(load("gradcheck_pass"), status="pass\x1b[2J\x07"), False)
def test_a_forged_report_fails_with_its_reason_and_prints_no_control_codes(report, expect_fail):
    row = check_row("forged.ipynb", 3, 1, report, expect_fail)
    assert not row.ok
    assert row.outcome.startswith("INVALID REPORT: report")
    text = summary([NotebookResult("forged.ipynb", checks=[row])])
    assert not any((ord(char) < 32 and char != "\n") or 0x7f <= ord(char) <= 0x9f for char in text)


@pytest.mark.parametrize("report", [[], "pass", 7, None, [load("gradcheck_pass")]])
def test_a_report_that_is_not_an_object_fails(report):
    row = check_row("nb.ipynb", 1, 1, report, False)
    assert not row.ok and "not an object" in row.outcome


def test_valid_fixtures_keep_their_verdicts():
    assert check_row("nb.ipynb", 1, 1, load("gradcheck_pass"), False).outcome == "ok"
    assert check_row("nb.ipynb", 1, 1, load("gradcheck_scale"), False).outcome == "FAILED"
    assert check_row("nb.ipynb", 1, 1, load("gradcheck_scale"), True).outcome == (
        "failed as expected")


def test_printable_escapes_control_characters_and_keeps_text():
    assert printable("ok \x1b[31mred\x1b[0m ×\t\x9b") == "ok \\x1b[31mred\\x1b[0m ×\\t\\x9b"
    assert printable("line 1\nline\x07 2", keep_newlines=True) == "line 1\nline\\x07 2"


def _display_raw(report: dict) -> nbformat.NotebookNode:
    source = ("from IPython.display import display\n"
              f"display({{{MIME_TYPE!r}: {report!r}}}, raw=True)")
    return nbformat.v4.new_code_cell(source)


@pytest.mark.kernel
def test_each_notebook_is_isolated_and_the_run_fails_closed(tmp_path: Path) -> None:
    unreadable = {"empty.ipynb": "", "brace.ipynb": "{ not json", "list.ipynb": "[]",
                  "future.ipynb": json.dumps({"nbformat": 99, "nbformat_minor": 0,
                                              "cells": [], "metadata": {}})}
    for name, text in unreadable.items():
        (tmp_path / name).write_text(text)
    good = write_notebook(tmp_path / "good.ipynb", [_display_raw(load("gradcheck_pass"))])
    forged = write_notebook(tmp_path / "forged.ipynb", [
        _display_raw(dict(load("gradcheck_pass"), status="PASS!!\x1b[2J")),
        _display_raw(dict(load("determinism_deterministic"), version=99)),
    ])
    saved_pass = nbformat.v4.new_code_cell("x = 1", execution_count=7, outputs=[
        nbformat.v4.new_output("execute_result", {MIME_TYPE: load("gradcheck_pass")},
                               execution_count=7)])
    stale = write_notebook(tmp_path / "stale.ipynb",
                           [nbformat.v4.new_code_cell("1 / 0"), saved_pass])
    dies = write_notebook(tmp_path / "dies.ipynb", [("import os\nos._exit(1)", False)])
    paths = [*(tmp_path / name for name in unreadable), good, forged, stale, dies]
    result = subprocess.run(
        [sys.executable, "-m", "nbgrad", "run", *map(str, paths), "--output-dir",
         str(tmp_path / "out"), "--json", str(tmp_path / "summary.json"), "--timeout", "60",
         "--kernel", "python3"],
        capture_output=True, text=True, timeout=300,
    )
    printed = result.stdout
    assert result.returncode == 2, printed + result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in printed
    for name, reason in [("empty", "the file is empty"), ("brace", "not JSON (Expecting"),
                         ("list", "the file holds a JSON list, not a notebook"),
                         ("future", "nbformat 99 is not a notebook version")]:
        assert f"{tmp_path / name}.ipynb could not run:\ncould not read: {reason}" in printed
    collected = json.loads((tmp_path / "summary.json").read_text())
    assert collected["exit_status"] == 2 and collected["ok"] is False
    checks = [(c["notebook"], c["ok"], c["outcome"]) for c in collected["checks"]]
    assert checks[0] == ("good.ipynb", True, "ok")
    assert checks[1][:2] == ("forged.ipynb", False) and "'PASS!!\\x1b[2J'" in checks[1][2]
    assert checks[2][:2] == ("forged.ipynb", False) and "report['version']" in checks[2][2]
    assert all(c["notebook"] != "stale.ipynb" for c in collected["checks"]), "a stale pass counted"
    kinds = {Path(n["path"]).name: n["error_kind"] for n in collected["notebooks"]}
    assert kinds == {"empty.ipynb": "unreadable", "brace.ipynb": "unreadable",
                     "list.ipynb": "unreadable", "future.ipynb": "unreadable",
                     "good.ipynb": None, "forged.ipynb": None, "stale.ipynb": "raised",
                     "dies.ipynb": "not run"}
    assert f"{dies} could not run:\ncould not run: the kernel died" in printed
    assert "3 checks, 2 failed, 1 notebooks raised, 5 could not run" in printed
    assert (tmp_path / "out" / "good.html").is_file()


@pytest.mark.kernel
def test_a_failed_check_alone_exits_1(tmp_path: Path) -> None:
    failing = write_notebook(tmp_path / "failing.ipynb", [_display_raw(load("gradcheck_scale"))])
    result = subprocess.run([sys.executable, "-m", "nbgrad", "run", str(failing), "--output-dir",
                             str(tmp_path / "out"), "--kernel", "python3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 checks, 1 failed, 0 notebooks raised, 0 could not run" in result.stdout


@pytest.mark.kernel
def test_a_cell_that_times_out_is_the_cell_that_raised(tmp_path: Path) -> None:
    slow = write_notebook(tmp_path / "slow.ipynb", [
        ("x = 1", False), ("import time\ntime.sleep(60)", False), ("y = 2", False)])
    result = run_notebook(slow, None, timeout=3, kernel="python3")
    assert (result.error_kind, result.error_cell) == ("raised", 1)
    assert "timed out" in result.error.lower() or "timeout" in result.error.lower()
