"""Gradient checkers on the same cost with one planted wrong gradient element.

Run: ``python benchmarks/bench_gradcheck.py [--output benchmarks/RESULTS_gradcheck.md]``
(torch and scipy are benchmark-only dependencies: ``pip install ".[bench]"``).

The cost is logistic-regression-like and coupled, so no checker can get away
with separable tricks::

    C(θ) = Σ softplus(aᵢθᵢ + bᵢ) + λ/2·‖θ‖² + ½(c·θ)²

and its analytic gradient carries one planted error at element ``k``
(``+0.05``, about 10 % of a typical component).  Every tool checks the SAME
numpy cost and gradient: torch.autograd.gradcheck through a
``torch.autograd.Function`` whose forward and backward call them, and
scipy.optimize.check_grad directly.  Calls of the cost and of the gradient are
counted by wrappers, not taken from the tools' own claims.

Verdicts: nbgrad and torch return pass/fail; scipy returns ‖numeric − analytic‖,
counted here as "fail" when it exceeds 1e-5·max(‖analytic‖, 1) (scipy has no
threshold of its own).  Every tool also runs on the *correct* gradient, so a
verdict column reads "planted / correct": a tool is only right with
"fail / pass".  "Localised" means the tool names the planted element: nbgrad's
``flagged`` list is exactly ``[k]``; torch prints both Jacobians and scipy one
norm, neither names an element.

Combinations whose estimated wall time exceeds :data:`LIMIT_S` are skipped
and their estimate is shown: the cost's per-call time measured at that N, plus
the tool's own overhead per call, times the calls it needs (both learnt from
its run at the previous N).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import nbgrad

SIZES = (10**3, 10**4, 10**5, 10**6)
LIMIT_S = 60.0
PLANTED = 0.05
LAMBDA = 0.1
#: scipy's check_grad returns a norm and no verdict; this threshold (torch's atol) makes one.
SCIPY_RTOL = 1e-5


class Problem:
    """The cost and its (wrong at one element) gradient at size ``n``, with call counters."""

    def __init__(self, n: int, planted: float = PLANTED, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.planted = planted
        self.a = rng.uniform(0.5, 2.0, n)
        self.b = rng.normal(size=n)
        self.c = rng.normal(size=n) / np.sqrt(n)
        self.theta = rng.normal(size=n)
        self.k = int(rng.integers(n))
        self.cost_calls = 0
        self.grad_calls = 0

    def cost(self, theta: np.ndarray) -> float:
        self.cost_calls += 1
        z = self.a * theta + self.b
        return float(
            np.sum(np.logaddexp(0.0, z))
            + 0.5 * LAMBDA * theta @ theta
            + 0.5 * (self.c @ theta) ** 2
        )

    def grad(self, theta: np.ndarray) -> np.ndarray:
        self.grad_calls += 1
        z = self.a * theta + self.b
        g = self.a / (1 + np.exp(-z)) + LAMBDA * theta + (self.c @ theta) * self.c
        g[self.k] += self.planted
        return g

    def reset(self) -> None:
        self.cost_calls = self.grad_calls = 0


@dataclass
class Row:
    tool: str
    n: int
    cost_calls: int | None = None
    grad_calls: int | None = None
    wall_s: float | None = None
    verdict: str = ""
    localised: str = ""
    note: str = ""


def run_nbgrad(problem: Problem, mode: str, rtol: float | None = None) -> tuple[str, str]:
    report = nbgrad.gradcheck(problem.cost, problem.theta, grad=problem.grad, mode=mode, rtol=rtol)
    assert report.evaluations == problem.cost_calls, "nbgrad's count must match the wrapper's"
    flagged = report.blocks[0]["flagged"]
    expected = [problem.k] if problem.planted else []
    localised = f"yes (element {problem.k})" if flagged == expected else f"no ({flagged[:3]})"
    if mode == "fast":
        verdict_calls = report.to_dict()["fast"]["verdict_evaluations"]
        localised += f"; verdict after {verdict_calls} calls"
    return ("fail" if not report.passed else "pass"), localised


def run_torch(problem: Problem, fast: bool) -> tuple[str, str]:
    import torch

    class NumpyCost(torch.autograd.Function):
        @staticmethod
        def forward(ctx, theta):
            ctx.save_for_backward(theta)
            return torch.tensor(problem.cost(theta.detach().numpy()), dtype=torch.float64)

        @staticmethod
        def backward(ctx, grad_output):
            (theta,) = ctx.saved_tensors
            return grad_output * torch.from_numpy(problem.grad(theta.detach().numpy()))

    theta = torch.tensor(problem.theta, dtype=torch.float64, requires_grad=True)
    ok = torch.autograd.gradcheck(NumpyCost.apply, (theta,), fast_mode=fast, raise_exception=False)
    return ("pass" if ok else "fail"), "no (prints both Jacobians)" if not fast else "no"


def run_scipy(problem: Problem, direction: str) -> tuple[str, str]:
    from scipy.optimize import check_grad

    rng = np.random.default_rng(0)
    error = check_grad(problem.cost, problem.grad, problem.theta, direction=direction, seed=rng)
    scale = float(np.linalg.norm(problem.grad(problem.theta)))
    problem.grad_calls -= 1  # the reference norm is ours, not the tool's
    return ("fail" if error > SCIPY_RTOL * max(scale, 1.0) else "pass"), "no (one norm)"


@dataclass
class Tool:
    name: str
    run: Callable[[Problem], tuple[str, str]]
    calls: Callable[[int], int]  # cost calls the tool needs at size n, for the estimate


TOOLS = [
    Tool("nbgrad full", lambda p: run_nbgrad(p, "full"), lambda n: 2 * n + 40),
    Tool(
        "nbgrad full, rtol=1e-3 (torch's)", lambda p: run_nbgrad(p, "full", 1e-3), lambda n: 2 * n
    ),
    Tool("nbgrad fast", lambda p: run_nbgrad(p, "fast"), lambda n: 400),
    Tool("torch gradcheck", lambda p: run_torch(p, False), lambda n: 2 * n),
    Tool("torch gradcheck fast_mode", lambda p: run_torch(p, True), lambda n: 10),
    Tool("scipy check_grad", lambda p: run_scipy(p, "all"), lambda n: n + 1),
    Tool("scipy check_grad random", lambda p: run_scipy(p, "random"), lambda n: 10),
]


def seconds_per_call(problem: Problem) -> float:
    start = time.perf_counter()
    repeats = 5
    for _ in range(repeats):
        problem.cost(problem.theta)
    problem.reset()
    return (time.perf_counter() - start) / repeats


@dataclass
class Learnt:
    """Per tool, from its last run: own seconds per cost call, calls per predicted call."""

    overhead_s: float = 0.0
    calls_ratio: float = 1.0


def measure(tool: Tool, n: int, learnt: dict[str, Learnt]) -> Row:
    problem = Problem(n)
    per_call = seconds_per_call(problem)
    known = learnt.setdefault(tool.name, Learnt())
    estimate = tool.calls(n) * known.calls_ratio * (per_call + known.overhead_s)
    if estimate > LIMIT_S:
        return Row(tool.name, n, note=f"skipped: >{LIMIT_S:.0f} s, estimated {estimate:,.0f} s")
    start = time.perf_counter()
    verdict, localised = tool.run(problem)
    wall = time.perf_counter() - start
    calls = max(problem.cost_calls, 1)
    known.overhead_s = max(wall / calls - per_call, 0.0)
    known.calls_ratio = calls / tool.calls(n)
    correct, _ = tool.run(Problem(n, planted=0.0))
    return Row(
        tool.name,
        n,
        problem.cost_calls,
        problem.grad_calls,
        wall,
        f"{verdict} / {correct}",
        localised,
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| tool | N | cost calls | grad calls | wall time | verdict (planted / correct) "
        "| localised the planted element |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for row in rows:
        if row.note:
            lines.append(f"| {row.tool} | {row.n:,} | – | – | – | {row.note} | – |")
            continue
        lines.append(
            f"| {row.tool} | {row.n:,} | {row.cost_calls:,} | {row.grad_calls:,} | "
            f"{row.wall_s:.2f} s | {row.verdict} | {row.localised} |"
        )
    return "\n".join(lines)


READING = """
How to read it.  Calls are counted by wrappers around the cost and the
gradient, not taken from the tools.  "planted / correct" is the verdict on the
gradient with the planted error and on the correct one: only "fail / pass" is
right.  nbgrad full spends up to about 6 cost calls per parameter here because
this cost's value (about N) is large next to its per-element gradients (about
1): a central difference at the ε^(1/3) step is then rounding-limited (about
1e-7 relative), so full mode extrapolates (4 more calls per element) to reach
the accuracy its default tolerance (5.5e-7 for float64) needs; with torch's
looser rtol=1e-3 it needs about 2 calls per parameter, like torch.  nbgrad
fast's verdict costs 16 calls (1 base, 3 noise repeats, 3 random directions
with a half-step confirmation each), the rest is localisation.  scipy's single
random direction uses 2 calls but leaves the threshold to the user (the one
used here is stated in the script); torch's fast mode (4 calls) passed the
wrong gradient.  Only nbgrad names the wrong element.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, help="also write the Markdown table here")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    learnt: dict[str, Learnt] = {}
    rows = []
    started = time.perf_counter()
    for n in args.sizes:
        for tool in TOOLS:
            row = measure(tool, n, learnt)
            rows.append(row)
            print(row, flush=True)
    total = time.perf_counter() - started
    text = table(rows)
    header = (
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average at the end "
        f"{os.getloadavg()[0]:.1f} (wall times on a shared machine vary; the call counts "
        f"do not); total benchmark time {total:.0f} s.\n\n"
    )
    print(header + text + "\n" + READING)
    if args.output:
        args.output.write_text(header + text + "\n" + READING)


if __name__ == "__main__":
    main()
