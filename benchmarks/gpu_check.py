"""GPU verification kit (issue 12): every CuPy path of nbgrad in one command, in ≤ 5 minutes.

``make gpu-check`` (or ``python3 benchmarks/gpu_check.py --out DIR``) runs, on a
machine with CuPy and a CUDA device:

1. ``pytest -m gpu`` over ``tests/test_*_gpu.py`` — gradient checks of CuPy
   arrays (float16/32/64, device-side perturbation, device-to-host transfers
   counted), fast mode on 10⁷ parameters, seed 000 on CuPy, CUB ``cumsum`` and
   ``cupyx.scatter_add``, the allocator and memory pool left as the user had
   them, ``--compare-numpy``, and the seed-000 example notebook executed with
   CuPy in a real kernel;
2. ``benchmarks/bench_gpu.py`` — determinism overhead against plain reruns
   with ≥ 64 MB of device state, device digest throughput against ``cp.sum``
   over the same bytes, a 10⁷-parameter fast-mode check against its bare cost
   calls;
3. writes ``DIR/RESULTS_gpu.md`` (every figure) beside ``DIR/gpu_check.json``
   (the same figures as data), after every phase, so a run cut short still
   leaves what it measured.

Without CuPy or a CUDA device it prints one line saying so and exits 0.
Exit status otherwise: 0 when every phase passed, 1 when one failed or timed out.

On this workplace's lent GPU machine (CuPy, PyTorch and Python 3.12, no internet,
no venv): fill ``.whl/`` here once with ``benchmarks/device_wheels.sh``, then make ONE
device ``run`` call with ``carry: [".whl"]``, ``timeout_s: 360`` and the command::

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl && export PYTHONPATH=$PWD:/tmp/site \
      PYTHONUNBUFFERED=1 JUPYTER_RUNTIME_DIR=/tmp/jupyter-runtime || exit; \
      python3 benchmarks/gpu_check.py --out $OUT

``$OUT/RESULTS_gpu.md`` comes back: commit it as ``benchmarks/RESULTS_gpu.md`` and
paste it into the README's GPU section.  To rerun only what failed (a second call
within the same lease), append ``-k "EXPR" --no-bench``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Wall-clock limits per phase (seconds); together well inside the issue's 5 minutes.
PYTEST_LIMIT_S = 190
BENCH_LIMIT_S = 80

RESULTS_MD = "RESULTS_gpu.md"
RESULTS_JSON = "gpu_check.json"


# --------------------------------------------------------------------------- probe

def gpu_unavailable() -> str | None:
    """Why this machine cannot run the kit (no CuPy, no device), or ``None`` when it can."""
    try:
        import cupy
    except Exception as error:  # ImportError, or a CUDA install that raises at import
        return f"CuPy is not importable ({type(error).__name__}: {error})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDARuntimeError without a driver or a device
        return f"CuPy sees no CUDA device ({type(error).__name__}: {error})"
    return None if count >= 1 else "CuPy sees no CUDA device (0 devices)"


def environment() -> dict[str, Any]:
    """What the figures were measured on (device, driver, CuPy, accelerators, Python)."""
    import cupy
    import numpy

    runtime = cupy.cuda.runtime
    props = runtime.getDeviceProperties(0)
    name = props["name"]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                                capture_output=True, check=False).stdout.strip()
    except OSError:  # no git on the machine
        commit = ""
    return {
        "device": name.decode() if isinstance(name, bytes) else str(name),
        "device_memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
        "compute_capability": f"{props['major']}.{props['minor']}",
        "driver": runtime.driverGetVersion(),
        "cuda_runtime": runtime.runtimeGetVersion(),
        "cupy": cupy.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "CUPY_ACCELERATORS": os.environ.get("CUPY_ACCELERATORS", "(unset: CuPy's default, cub)"),
        "commit": commit or "unknown (no git here)",
    }


def _environment_or_error() -> dict[str, Any]:
    try:
        return environment()
    except Exception as error:  # the figures matter more than their labels
        return {"error": f"could not read the environment: {type(error).__name__}: {error}"}


# --------------------------------------------------------------------------- phases

def _run(command: Sequence[str], limit_s: float, log: Path) -> tuple[str, float, str]:
    """Run ``command`` from the repository root; (status, seconds, last lines of output)."""
    start = time.perf_counter()
    with log.open("w") as out:
        try:
            code = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                  timeout=limit_s, check=False).returncode
            status = "passed" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            status = f"timed out after {limit_s:.0f} s"
    seconds = time.perf_counter() - start
    tail = log.read_text(errors="replace").splitlines()[-3:]
    return status, seconds, " / ".join(line.strip("= ") for line in tail if line.strip("= "))


#: Where the pytest plugin below appends one JSON line per test (set by :func:`main`).
TESTS_ENV = "NBGRAD_GPU_CHECK_TESTS"


def _write_row(name: str, outcome: str, seconds: float, message: str) -> None:
    path = os.environ.get(TESTS_ENV)
    if path:
        row = {"name": name.removeprefix("tests/"), "outcome": outcome, "seconds": seconds,
               "message": message.removeprefix("Skipped: ")[:400]}
        with open(path, "a") as out:
            out.write(json.dumps(row) + "\n")


def _failure_message(report: Any) -> str:
    lines = report.longreprtext.splitlines()
    message = " ".join(line[1:].strip() for line in lines if line.startswith("E "))
    return message or (lines[-1].strip() if lines else "")


def pytest_runtest_logreport(report: Any) -> None:
    """pytest hook (``-p gpu_check``): one JSON line per test outcome, written as it happens.

    A line per test, not a report at the end, so that a phase killed at its
    time limit still leaves every result it reached.
    """
    if report.when == "call" or report.outcome != "passed":
        if report.outcome == "skipped":
            longrepr = report.longrepr
            message = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
            _write_row(report.nodeid, "skipped", report.duration, message)
        elif report.outcome == "failed":
            _write_row(report.nodeid, "failed" if report.when == "call" else "error",
                       report.duration, _failure_message(report))
        else:
            _write_row(report.nodeid, "passed", report.duration, "")


def pytest_collectreport(report: Any) -> None:
    """pytest hook: a test module that cannot be imported (or skips itself) is a row too."""
    if report.failed:
        _write_row(report.nodeid, "error", 0.0, _failure_message(report))
    elif report.outcome == "skipped" and report.nodeid.endswith(".py"):
        longrepr = report.longrepr
        _write_row(report.nodeid, "skipped", 0.0,
                   longrepr[2] if isinstance(longrepr, tuple) else str(longrepr))


def read_test_rows(path: Path) -> list[dict[str, Any]]:
    """The rows :func:`pytest_runtest_logreport` wrote (none when pytest wrote none)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def subprocess_environment() -> None:
    """Let the test processes (and the notebook's kernel) import nbgrad and the kit's plugin.

    Packages installed with ``pip install --target DIR`` (the lent GPU machine's
    wheels) keep their Jupyter data — nbconvert's templates, the kernelspec —
    in ``DIR/share/jupyter``, where Jupyter looks only when ``JUPYTER_PATH``
    says so.
    """
    paths = [str(ROOT), str(ROOT / "benchmarks"), *filter(None, os.environ.get(
        "PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    data = [str(Path(p) / "share" / "jupyter") for p in paths
            if (Path(p) / "share" / "jupyter").is_dir()]
    if data:
        os.environ["JUPYTER_PATH"] = os.pathsep.join(
            [*data, *filter(None, os.environ.get("JUPYTER_PATH", "").split(os.pathsep))])


def gpu_test_files() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*_gpu.py"))


# --------------------------------------------------------------------------- the results file

def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) and spec:
        return format(value, spec)
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> list[str]:
    """Markdown table of ``rows``; ``columns`` are (key, header, format spec)."""
    lines = ["| " + " | ".join(header for _, header, _ in columns) + " |",
             "|" + "|".join("---" if not spec else "---:" for _, _, spec in columns) + "|"]
    for row in rows:
        cells = [_fmt(row.get(key), spec).replace("|", "\\|").replace("\n", " ")
                 for key, _, spec in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _section(title: str, figures: Any, render: Callable[[Any], list[str]]) -> list[str]:
    if not figures:
        return [f"## {title}", "", "not measured in this run (benchmarks skipped, or the phase "
                "failed or timed out before this one: see Phases)", ""]
    return [f"## {title}", "", *render(figures), ""]


def _overhead(f: dict[str, Any]) -> list[str]:
    return [f"{f['state_mb']:.0f} MB of CuPy state, {f['steps']} steps, best of {f['repeats']}; "
            f"the check came out {'deterministic' if f['deterministic'] else 'DIVERGED'}.", "",
            *_table([f], [("plain_two_runs_s", "2 plain runs (s)", ".3f"),
                          ("check_s", "check_determinism(runs=2) (s)", ".3f"),
                          ("ratio", "ratio", ".2f")])]


def _digest(rows: list[dict[str, Any]]) -> list[str]:
    return ["Same bytes, same device; GB/s of input read (best of the repeats).", "",
            *_table(rows, [("mb", "MB", ".0f"), ("dtype", "dtype", ""),
                           ("digest_gbps", "nbgrad device digest (GB/s)", ".1f"),
                           ("sum_gbps", "cp.sum (GB/s)", ".1f"),
                           ("ratio", "digest time / sum time", ".2f")])]


def _fast(f: dict[str, Any]) -> list[str]:
    return [f"{f['params']:,} {f['dtype']} CuPy parameters, correct gradient; the check "
            f"{'passed' if f['passed'] else 'FAILED'} in {f['calls']} cost calls.", "",
            *_table([f], [("check_s", "fast-mode check (s)", ".3f"),
                          ("bare_calls_s", f"{f['calls']} bare cost calls (s)", ".3f"),
                          ("ratio", "ratio", ".2f"),
                          ("cost_call_ms", "one cost call (ms)", ".3f")])]


def results_markdown(results: dict[str, Any]) -> str:
    """The one results file: environment, phases, every test, every benchmark figure."""
    lines = ["# GPU verification kit — results", "",
             f"`make gpu-check` (benchmarks/gpu_check.py), {results['started']}, "
             f"{results['elapsed_s']:.0f} s in all.", ""]
    lines += _table([{"what": k, "value": v} for k, v in results["environment"].items()],
                    [("what", "environment", ""), ("value", "", "")])
    lines += ["", "## Phases", ""]
    lines += _table(results["phases"], [("name", "phase", ""), ("status", "status", ""),
                                        ("seconds", "s", ".1f"), ("detail", "last output", "")])
    tests = results["tests"]
    counts = {o: sum(t["outcome"] == o for t in tests)
              for o in ("passed", "failed", "error", "skipped")}
    lines += ["", "## GPU tests", "",
              ", ".join(f"{n} {o}" for o, n in counts.items()) if tests else
              "no test results (pytest wrote no report)", ""]
    order = {"failed": 0, "error": 1, "skipped": 2, "passed": 3}
    lines += _table(sorted(tests, key=lambda t: order[t["outcome"]]),
                    [("name", "test", ""), ("outcome", "outcome", ""),
                     ("seconds", "s", ".2f"), ("message", "message", "")]) if tests else []
    bench = results.get("benchmarks") or {}
    lines += [""]
    lines += _section("Determinism overhead (CuPy)", bench.get("determinism_overhead"),
                      _overhead)
    lines += _section("Device digest throughput", bench.get("digest_throughput"), _digest)
    lines += _section("Fast mode on 10⁷ CuPy parameters", bench.get("fast_mode"), _fast)
    return "\n".join(lines).rstrip() + "\n"


def write_results(results: dict[str, Any], out: Path) -> Path:
    """Write the markdown file and its JSON twin into ``out``; returns the markdown path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_JSON).write_text(json.dumps(results, indent=1) + "\n")
    path = out / RESULTS_MD
    path.write_text(results_markdown(results))
    return path


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="build/gpu-check", type=Path,
                        help="folder for RESULTS_gpu.md, gpu_check.json and the logs")
    parser.add_argument("-k", dest="keyword", default=None,
                        help="only the GPU tests matching this pytest -k expression (a rerun)")
    parser.add_argument("--no-bench", action="store_true", help="skip the benchmarks")
    args = parser.parse_args(argv)
    reason = gpu_unavailable()
    if reason is not None:
        print(f"gpu-check: skipped, {reason}: nothing to check without CuPy and a CUDA device")
        return 0
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results: dict[str, Any] = {
        "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": 0.0, "environment": _environment_or_error(), "phases": [], "tests": [],
        "benchmarks": {}}
    write_results(results, out)

    def phase(name: str, command: list[str], limit_s: float, log: str) -> None:
        print(f"gpu-check: {name} ...", flush=True)
        status, seconds, detail = _run(command, limit_s, out / log)
        results["phases"].append({"name": name, "status": status, "seconds": seconds,
                                  "detail": detail})
        print(f"gpu-check: {name}: {status} ({seconds:.0f} s)", flush=True)

    rows = out / "tests.jsonl"
    rows.unlink(missing_ok=True)
    os.environ[TESTS_ENV] = str(rows)
    subprocess_environment()
    # A module that fails to import must not stop the others: one run is all a GPU lease gets.
    phase("pytest -m gpu", [sys.executable, "-m", "pytest", "-m", "gpu", "-p", "gpu_check",
                            "-p", "no:cacheprovider", "--continue-on-collection-errors", "-q",
                            *(["--timeout", "150"] if find_spec("pytest_timeout") else []),
                            *(["-k", args.keyword] if args.keyword else []),
                            *gpu_test_files()], PYTEST_LIMIT_S, "pytest.log")
    results["tests"] = read_test_rows(rows)
    if not args.no_bench:
        write_results({**results, "elapsed_s": time.perf_counter() - start}, out)
        figures = out / "bench_gpu.json"
        phase("benchmarks/bench_gpu.py", [sys.executable, "benchmarks/bench_gpu.py", "--json",
                                          str(figures)], BENCH_LIMIT_S, "bench_gpu.log")
        if figures.exists():
            results["benchmarks"] = json.loads(figures.read_text())
    results["elapsed_s"] = time.perf_counter() - start
    path = write_results(results, out)
    print(path.read_text(), flush=True)  # also in the device call's output tail
    print(f"gpu-check: results in {path}")
    return 0 if all(p["status"] == "passed" for p in results["phases"]) else 1


if __name__ == "__main__":
    sys.exit(main())
