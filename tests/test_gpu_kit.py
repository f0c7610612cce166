"""The GPU verification kit where no GPU is: its skip path and its results file.

``make gpu-check`` itself needs CuPy and a device (benchmarks/gpu_check.py);
what a CPU can hold is tested here: without them it says so in one line and
exits 0, and the markdown results file shows every figure it is given.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nbgrad.backend import cupy_module

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
gpu_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_check)

FIGURES = {
    "determinism_overhead": {"state_mb": 335.5, "steps": 30, "repeats": 3,
                             "plain_two_runs_s": 0.4123, "check_s": 0.5067, "ratio": 1.2289,
                             "deterministic": True},
    "digest_throughput": [
        {"mb": 64.0, "dtype": "float32", "digest_gbps": 1234.5, "sum_gbps": 2345.6,
         "ratio": 1.9},
        {"mb": 1024.0, "dtype": "float32", "digest_gbps": 3456.7, "sum_gbps": 3789.1,
         "ratio": 1.0962},
    ],
    "fast_mode": {"params": 10**7, "dtype": "float64", "passed": True, "calls": 16,
                  "check_s": 0.8766, "bare_calls_s": 0.0432, "ratio": 20.29,
                  "cost_call_ms": 2.7},
}


def results(benchmarks=None):
    return {
        "started": "2026-12-03 09:00 UTC", "elapsed_s": 187.4,
        "environment": {"device": "NVIDIA H200", "cupy": "14.2.0", "driver": 13000},
        "phases": [
            {"name": "pytest -m gpu", "status": "failed (exit 1)", "seconds": 141.2,
             "detail": "1 failed, 1 passed"},
            {"name": "benchmarks/bench_gpu.py", "status": "timed out after 100 s",
             "seconds": 100.0, "detail": "digest_throughput (4.1 s)"},
        ],
        "tests": [
            {"name": "test_a::test_ok", "outcome": "passed", "seconds": 0.5, "message": ""},
            {"name": "test_a::test_bad", "outcome": "failed", "seconds": 1.25,
             "message": "assert a | b\nsecond line"},
            {"name": "test_b::test_later", "outcome": "skipped", "seconds": 0.0,
             "message": "needs CUB"},
        ],
        "benchmarks": FIGURES if benchmarks is None else benchmarks,
    }


@pytest.mark.skipif(cupy_module() is not None, reason="CuPy and a GPU are here: the kit runs")
def test_make_gpu_check_without_a_gpu_says_so_in_one_line_and_exits_0():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    done = subprocess.run(["make", "gpu-check"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    output = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 0, output
    assert len(output) == 1, output
    assert output[0].startswith("gpu-check: skipped, ") and "CuPy" in output[0], output


def test_results_file_shows_every_figure():
    text = gpu_check.results_markdown(results())
    for figure in ("336 MB", "30 steps", "best of 3", "0.412", "0.507", "1.23",
                   "1234.5", "2345.6", "1.90", "3456.7", "3789.1", "1.10",
                   "10,000,000 float64", "16 cost calls", "0.877", "0.043", "20.29", "2.700",
                   "NVIDIA H200", "14.2.0", "13000", "187 s", "141.2", "timed out after 100 s",
                   "1 passed, 1 failed, 0 error, 1 skipped", "needs CUB", "1.25"):
        assert figure in text, figure
    assert "deterministic" in text and "passed in 16" in text


def test_results_file_lists_failures_first_and_keeps_tables_intact():
    lines = gpu_check.results_markdown(results()).splitlines()
    rows = [line for line in lines if line.startswith("| test_")]
    assert [row.split(" | ")[0] for row in rows] == [
        "| test_a::test_bad", "| test_b::test_later", "| test_a::test_ok"]
    assert "assert a \\| b second line" in rows[0]  # one row, the pipe escaped
    header = next(i for i, line in enumerate(lines) if line.startswith("| test |"))
    assert lines[header + 1].count("|") == lines[header].count("|")


def test_results_file_says_which_benchmarks_were_not_measured():
    partial = {"determinism_overhead": FIGURES["determinism_overhead"]}
    text = gpu_check.results_markdown(results(benchmarks=partial))
    assert "1.23" in text
    assert text.count("not measured") == 2
    assert "DIVERGED" in gpu_check.results_markdown(results(benchmarks={
        "determinism_overhead": {**FIGURES["determinism_overhead"], "deterministic": False}}))


def test_write_results_writes_the_markdown_and_its_json(tmp_path):
    path = gpu_check.write_results(results(), tmp_path / "out")
    assert path == tmp_path / "out" / "RESULTS_gpu.md"
    assert path.read_text() == gpu_check.results_markdown(results())
    assert json.loads((tmp_path / "out" / "gpu_check.json").read_text()) == results()


def test_test_rows_come_from_a_real_pytest_run_as_it_goes(tmp_path):
    (tmp_path / "test_four.py").write_text(
        "import pytest\n\ndef test_passes():\n    pass\n\n"
        "def test_fails():\n    assert 1 == 2, 'one is not two'\n\n"
        "@pytest.mark.skip(reason='not here')\ndef test_skipped():\n    pass\n\n"
        "@pytest.fixture\ndef broken():\n    raise RuntimeError('fixture broke')\n\n"
        "def test_errors(broken):\n    pass\n")
    (tmp_path / "test_five.py").write_text("import not_a_module_anywhere\n")
    (tmp_path / "test_six.py").write_text(
        "import pytest\npytest.skip('no device', allow_module_level=True)\n")
    rows_file = tmp_path / "rows.jsonl"
    env = {**os.environ, gpu_check.TESTS_ENV: str(rows_file),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)])}
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "gpu_check", "-p",
                    "no:cacheprovider", "--continue-on-collection-errors",
                    "test_four.py", "test_five.py", "test_six.py"],
                   cwd=tmp_path, env=env, capture_output=True, timeout=120, check=False)
    rows = {row["name"]: row for row in gpu_check.read_test_rows(rows_file)}
    assert {name: row["outcome"] for name, row in rows.items()} == {
        "test_four.py::test_passes": "passed", "test_four.py::test_fails": "failed",
        "test_four.py::test_skipped": "skipped", "test_four.py::test_errors": "error",
        "test_five.py": "error", "test_six.py": "skipped"}
    assert "one is not two" in rows["test_four.py::test_fails"]["message"]
    assert rows["test_four.py::test_skipped"]["message"] == "not here"
    assert "fixture broke" in rows["test_four.py::test_errors"]["message"]
    assert "not_a_module_anywhere" in rows["test_five.py"]["message"]
    assert rows["test_six.py"]["message"] == "no device"
    assert gpu_check.read_test_rows(tmp_path / "missing.jsonl") == []


def test_the_kit_runs_every_gpu_test_file():
    files = gpu_check.gpu_test_files()
    assert {"tests/test_gradcheck_gpu.py", "tests/test_determinism_gpu.py",
            "tests/test_examples_gpu.py"} <= set(files)
    assert all(Path(f).name.endswith("_gpu.py") for f in files)
