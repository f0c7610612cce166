"""GPU benchmarks of nbgrad's CuPy paths (run by benchmarks/gpu_check.py; needs CuPy and a GPU).

1. Determinism overhead: ``check_determinism(runs=2)`` on a CuPy training loop
   with ≥ 64 MB of device state against two plain runs of the same loop from
   the same state (best of ``--repeats``).
2. Device digest throughput: nbgrad's per-step digest of one CuPy array
   (``digest_all``, the call the determinism runner makes after every step:
   one kernel, 16 bytes back) against ``cp.sum`` over the same bytes.
3. Fast mode on 10⁷ CuPy parameters: ``gradcheck(mode="fast")`` with a
   correct gradient against the same number of bare cost calls.

Every time is taken after ``cupy.cuda.Device().synchronize()``; each
benchmark is warmed up once first (CuPy compiles kernels on first use).
``--json PATH`` writes the figures after each benchmark, so a run cut short
keeps what it measured.  Usage: ``python3 benchmarks/bench_gpu.py [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cupy as cp

from nbgrad import check_determinism, gradcheck
from nbgrad.determinism.digest import digest_all

#: The training loop of benchmark 1: two matrix products and three updates of
#: 128 MB arrays per step; W, V, X hold 320 MB of float64 state.
LOOP_SETUP = """\
import cupy as cp
init = cp.random.default_rng(0)
W = init.standard_normal((4096, 4096)) * 0.01
V = cp.zeros((4096, 4096))
X = init.standard_normal((2048, 4096))
"""
LOOP_CELL = """\
losses = []
for step in range({steps}):
    H = cp.tanh(X @ W)
    G = X.T @ (H * (1 - H * H)) / X.shape[0]
    V = 0.9 * V + 0.1 * G
    W -= 0.01 * V
    losses.append(float((H * H).mean()))
"""


def sync() -> None:
    cp.cuda.Device().synchronize()


def best_of(repeats: int, fn: Callable[[], Any]) -> float:
    """Fastest wall time of ``repeats`` synchronised calls of ``fn``."""
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def determinism_overhead(steps: int, repeats: int) -> dict[str, Any]:
    setup: dict[str, Any] = {}
    exec(LOOP_SETUP, setup)
    cell = LOOP_CELL.format(steps=steps)
    state = ("W", "V", "X")
    state_mb = sum(setup[name].nbytes for name in state) / 1e6

    def fresh() -> dict[str, Any]:
        return {**setup, **{name: setup[name].copy() for name in state}}

    def two_plain_runs() -> None:
        for _ in range(2):
            exec(cell, fresh())

    outcome: list[bool] = []

    def check() -> None:
        outcome.append(check_determinism(cell, fresh(), runs=2).deterministic)

    two_plain_runs()  # warm-up: kernels compiled, pool filled
    check()
    plain = best_of(repeats, two_plain_runs)
    checked = best_of(repeats, check)
    return {"state_mb": state_mb, "steps": steps, "repeats": repeats,
            "plain_two_runs_s": plain, "check_s": checked, "ratio": checked / plain,
            "deterministic": all(outcome)}


def digest_throughput(sizes_mb: list[int], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for mb in sizes_mb:
        a = cp.random.default_rng(1).standard_normal(mb * 2**20 // 4, dtype=cp.float32)
        digest_all({"a": a})
        cp.sum(a)
        digest_s = best_of(repeats, lambda a=a: digest_all({"a": a}))
        sum_s = best_of(repeats, lambda a=a: float(cp.sum(a)))  # one scalar back, as the digest
        rows.append({"mb": a.nbytes / 2**20, "dtype": "float32",
                     "digest_gbps": a.nbytes / digest_s / 1e9,
                     "sum_gbps": a.nbytes / sum_s / 1e9, "ratio": digest_s / sum_s})
        del a
    return rows


def fast_mode(n: int, repeats: int) -> dict[str, Any]:
    w = cp.random.default_rng(2).standard_normal(n)
    calls = 0

    def cost(p: Any) -> Any:
        nonlocal calls
        calls += 1
        return cp.sum(cp.tanh(p) ** 2)

    def grad(p: Any) -> Any:
        t = cp.tanh(p)
        return 2 * t * (1 - t * t)

    passed: list[bool] = []
    counted: list[int] = []

    def check() -> None:
        nonlocal calls
        calls = 0
        passed.append(gradcheck(cost, w, grad=grad, mode="fast").passed)
        counted.append(calls)

    check()  # warm-up
    checked = best_of(repeats, check)
    n_calls = counted[-1]

    def bare() -> None:
        for _ in range(n_calls):
            float(cost(w))

    bare_s = best_of(repeats, bare)
    return {"params": n, "dtype": str(w.dtype), "passed": all(passed), "calls": n_calls,
            "check_s": checked, "bare_calls_s": bare_s, "ratio": checked / bare_s,
            "cost_call_ms": 1e3 * bare_s / n_calls}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GPU benchmarks of nbgrad's CuPy paths")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {}
    benchmarks: list[tuple[str, Callable[[], Any]]] = [
        ("determinism_overhead", lambda: determinism_overhead(args.steps, args.repeats)),
        ("digest_throughput", lambda: digest_throughput([64, 256, 1024], max(args.repeats, 5))),
        ("fast_mode", lambda: fast_mode(10**7, args.repeats)),
    ]
    for name, run in benchmarks:
        start = time.perf_counter()
        figures[name] = run()
        print(f"{name} ({time.perf_counter() - start:.1f} s): {json.dumps(figures[name])}",
              flush=True)
        if args.json is not None:
            args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
