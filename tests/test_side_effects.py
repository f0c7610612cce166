"""Effects outside the namespace while nbgrad reruns user code: the cwd, files written.

A check runs the cell dozens of times; what it does to the working directory
is put back after every run, and the files it opens for writing are counted
and reported in the report's ``side_effects`` (they cannot be undone).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from nbgrad import gradcheck
from nbgrad.namespace.sideeffects import SideEffects
from nbgrad.report.schema import report_problems
from nbgrad.report.text import render_text

MOVING_CELL = (
    "%%gradcheck --wrt W\n"
    "os.makedirs('e', exist_ok=True); os.chdir('e')\n"
    "with open('losses.txt', 'a') as log:\n"
    "    log.write(f'{(W ** 2).sum()}\\n')\n"
    "float((W ** 2).sum()), 2 * W\n"
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_gradcheck_cell_that_writes_and_moves_is_put_back_and_reported(shell, run_cell, in_tmp):
    run_cell("import os\nW = np.array([0.5, -1.0, 2.0, 0.25])")
    report = run_cell(MOVING_CELL).to_dict()
    assert Path.cwd() == in_tmp and not (in_tmp / "e" / "e").exists()
    written = len((in_tmp / "e" / "losses.txt").read_text().splitlines())
    assert written == report["evaluations"] > 4
    assert report["side_effects"] == [
        {"kind": "write", "path": os.path.join("e", "losses.txt"), "count": written,
         "message": f"the cell wrote e/losses.txt {written} times during the check"},
        {"kind": "chdir", "path": "e", "count": written,
         "message": f"the cell changed the working directory (to e) in {written} runs during "
                    f"the check; nbgrad put it back to {in_tmp} after each"},
    ]
    assert report_problems(report) == []
    text = render_text(report)
    assert f"outside the namespace:\n- the cell wrote e/losses.txt {written} times" in text


def test_a_cost_function_is_named_fun_and_reads_are_not_writes(in_tmp):
    (in_tmp / "data.txt").write_text("1.0")

    def cost(p):
        scale = float((in_tmp / "data.txt").read_text())
        np.save(in_tmp / "p.npy", p)
        return scale * float((p ** 2).sum()), 2 * scale * p

    report = gradcheck(cost, np.array([1.0, 2.0])).to_dict()
    assert [(e["kind"], e["path"], e["count"]) for e in report["side_effects"]] == [
        ("write", "p.npy", report["evaluations"])]
    assert report["side_effects"][0]["message"].startswith("fun wrote p.npy ")


def test_a_clean_cost_has_no_side_effects_field():
    report = gradcheck(lambda p: (float((p ** 2).sum()), 2 * p), np.ones(3)).to_dict()
    assert "side_effects" not in report


def test_determinism_reruns_start_and_end_where_the_plain_run_does(shell, run_cell, in_tmp):
    run_cell("import os\nW = np.ones(4)")
    report = run_cell(
        "%%determinism --runs 3\n"
        "os.makedirs('d', exist_ok=True); os.chdir('d')\n"
        "for step in range(3):\n"
        "    W = W * 2\n"
        "    with open('losses.txt', 'a') as log:\n"
        "        log.write(f'{W.sum()}\\n')\n"
    ).to_dict()
    assert Path.cwd() == in_tmp / "d", "as after one plain run of the cell"
    assert not (in_tmp / "d" / "d").exists()
    lines = len((in_tmp / "d" / "losses.txt").read_text().splitlines())
    writes, moves = report["side_effects"]
    assert writes["kind"] == "write" and writes["path"] == os.path.join("d", "losses.txt")
    assert writes["count"] == lines - 3 >= 6  # all but run 0's three
    assert writes["message"] == f"the cell wrote d/losses.txt {lines - 3} times during the reruns"
    assert moves["kind"] == "chdir" and moves["count"] >= 2
    assert report_problems(report) == []


def test_an_interrupted_evaluation_puts_the_cwd_back(in_tmp):
    (in_tmp / "sub").mkdir()
    calls = []

    def cost(p):
        calls.append(1)
        os.chdir(in_tmp / "sub")
        if len(calls) == 3:
            raise KeyboardInterrupt
        return float((p ** 2).sum()), 2 * p

    with pytest.raises(KeyboardInterrupt):
        gradcheck(cost, np.ones(3))
    assert Path.cwd() == in_tmp


def test_a_run_that_removes_its_own_directory_is_put_back(in_tmp):
    effects = SideEffects("the cell")
    with effects.run():
        (in_tmp / "gone").mkdir()
        os.chdir(in_tmp / "gone")
        os.rmdir(in_tmp / "gone")
    assert Path.cwd() == in_tmp
    assert effects.findings("during the check")[0]["path"] == (
        "a directory that no longer exists")


def test_only_the_watched_run_in_its_own_thread_is_counted(in_tmp):
    effects = SideEffects("the cell")
    (in_tmp / "before.txt").write_text("outside any run")

    def other_thread() -> None:
        (in_tmp / "thread.txt").write_text("the kernel's own thread")

    with effects.run():
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
        (in_tmp / "inside.txt").write_text("x")
        (in_tmp / "before.txt").read_text()
        fd = os.open(in_tmp / "raw.bin", os.O_WRONLY | os.O_CREAT)
        os.close(fd)
    (in_tmp / "after.txt").write_text("outside any run")
    assert dict(effects.writes) == {str(in_tmp / "inside.txt"): 1, str(in_tmp / "raw.bin"): 1}


def test_the_run_measuring_an_update_is_watched_too(shell, run_cell, in_tmp):
    run_cell("import os\nW = np.array([0.5, -1.0, 2.0])")
    report = run_cell(
        "%%gradcheck --wrt W --update-lr 0.1\n"
        "with open('log.txt', 'a') as log:\n"
        "    log.write('run\\n')\n"
        "cost = float((W ** 2).sum())\n"
        "W -= 0.1 * (2 * W)\n"
        "cost\n"
    ).to_dict()
    lines = len((in_tmp / "log.txt").read_text().splitlines())
    assert report["side_effects"][0]["count"] == lines == report["evaluations"]
