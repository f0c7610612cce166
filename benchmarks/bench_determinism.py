"""Overhead of ``check_determinism(runs=2)`` against two plain runs of the same cell.

The cell is a ConvLSTM-sized training loop in the style of seed 000: every
step runs a sequence through a convolutional LSTM cell (convolutions as
im2col matrix products), keeps the hidden and cell states of every time step
in the namespace (as hand-written BPTT code does) and updates the kernel with
Adam.  The tracked state is well over 64 MB.  Also measures the digest
throughput on the host and, when CuPy sees a GPU, on the device.

A second table sizes the state itself (issue 13's cost goals): a loop of
``--steps`` steps over parameters totalling 256 MB (and 1 GiB with ``--large``),
updated in place, timed against two plain runs, with the check's extra peak
memory (``tracemalloc``, which numpy reports its buffers to) as a multiple of
the state.

    python benchmarks/bench_determinism.py            # print the tables
    python benchmarks/bench_determinism.py --write    # also update RESULTS_determinism.md
    python benchmarks/bench_determinism.py --large    # add the 1 GiB row (needs ~4 GiB)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from nbgrad import check_determinism
from nbgrad.backend import cupy_module
from nbgrad.determinism import runner as runner_module
from nbgrad.determinism.digest import DeviceDigests, host_digest
from nbgrad.namespace.snapshot import Snapshot

SETUP = """\
T, C, H, M, N, K = {T}, 8, {H}, {M}, {M}, 3
init = np.random.default_rng(0)
kernel = xp.asarray(init.normal(size=(4 * H, (C + H) * K * K)) * 0.05)
adam_m = xp.zeros_like(kernel)
adam_v = xp.zeros_like(kernel)
h_seq = xp.zeros((T + 1, H, M, N))
c_seq = xp.zeros((T + 1, H, M, N))
gates = xp.zeros((T, 4 * H, M, N))
inputs = xp.asarray(init.normal(size=({steps}, T, C, M, N)))

def im2col(x):
    padded = xp.pad(x, ((0, 0), (1, 1), (1, 1)))
    cols = [padded[:, i:i + M, j:j + N] for i in range(K) for j in range(K)]
    return xp.stack(cols, axis=1).reshape(-1, M * N)

def sigmoid(z):
    return 1.0 / (1.0 + xp.exp(-z))
"""

CELL = """\
for step in range(len(inputs)):
    grad = xp.zeros_like(kernel)
    for t in range(T):
        patches = im2col(xp.concatenate((inputs[step, t], h_seq[t]), axis=0))
        z = (kernel @ patches).reshape(4 * H, M, N)
        gates[t] = z
        i, f = sigmoid(z[:H]), sigmoid(z[H:2 * H])
        a, o = xp.tanh(z[2 * H:3 * H]), sigmoid(z[3 * H:])
        c_seq[t + 1] = f * c_seq[t] + i * a
        h_seq[t + 1] = o * xp.tanh(c_seq[t + 1])
        grad += (xp.tanh(gates[t]).reshape(4 * H, -1) @ patches.T) / (M * N)
    adam_m = 0.9 * adam_m + 0.1 * grad
    adam_v = 0.999 * adam_v + 0.001 * grad * grad
    kernel = kernel - 1e-3 * adam_m / (xp.sqrt(adam_v) + 1e-8)
    h_seq[0] = h_seq[T]
    c_seq[0] = c_seq[T]
    loss = float((h_seq[T] ** 2).mean())
"""


def make_namespace(xp: Any, sizes: dict[str, int]) -> dict[str, Any]:
    namespace: dict[str, Any] = {"np": np, "xp": xp}
    exec(SETUP.format(**sizes), namespace)
    return namespace


def tracked_mb(namespace: dict[str, Any]) -> float:
    names = ("kernel", "adam_m", "adam_v", "h_seq", "c_seq", "gates")
    return sum(namespace[n].nbytes for n in names) / 2**20


def synchronize(xp: Any) -> None:
    if xp is not np:
        xp.cuda.Stream.null.synchronize()


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(start: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clocks()
    return wall - start[0], cpu - start[1]


def time_plain_runs(xp: Any, sizes: dict[str, int], runs: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``runs`` plain executions, each from the same fresh state."""
    wall = cpu = 0.0
    for _ in range(runs):
        namespace = make_namespace(xp, sizes)
        synchronize(xp)
        start = _clocks()
        exec(CELL, namespace)
        synchronize(xp)
        spent = _since(start)
        wall, cpu = wall + spent[0], cpu + spent[1]
    return wall, cpu


#: nbgrad's own work during a check: snapshots, restores, digests (what is not the cell).
_OWN_WORK = [(Snapshot, "take"), (Snapshot, "restore"), (runner_module, "digest_all")]


@contextmanager
def own_work_timer() -> Iterator[list[float]]:
    """Time the functions in ``_OWN_WORK`` while the block runs (seconds, summed)."""
    spent = [0.0]
    originals = [(owner, name, getattr(owner, name)) for owner, name in _OWN_WORK]

    def timed(original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start
        return call

    for owner, name, original in originals:
        setattr(owner, name, timed(original))
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


def time_check(xp: Any, sizes: dict[str, int],
               runs: int) -> tuple[tuple[float, float], float, dict]:
    namespace = make_namespace(xp, sizes)
    synchronize(xp)
    with own_work_timer() as own:
        start = _clocks()
        report = check_determinism(CELL, namespace, runs=runs)
        synchronize(xp)
        spent = _since(start)
    return spent, own[0], report.to_dict()


def digest_throughput(xp: Any, megabytes: int = 256, repeats: int = 5) -> float:
    """GB/s of the digest that per-step comparison uses for ``xp`` arrays."""
    array = xp.asarray(np.random.default_rng(1).random(megabytes * 2**20 // 8))
    if xp is np:
        digest = host_digest
    else:
        def digest(a: Any) -> bytes:
            batch = DeviceDigests(xp, 1)
            batch.add(a)
            return batch.collect()[0]
    digest(array)
    start = time.perf_counter()
    for _ in range(repeats):
        digest(array)
    return array.nbytes * repeats / (time.perf_counter() - start) / 1e9


def measure(xp: Any, label: str, sizes: dict[str, int], runs: int = 2,
            repeats: int = 3) -> dict[str, Any]:
    """Best of ``repeats`` (wall and CPU time separately), after a warm-up run.

    CPU time (all threads of the process) is reported beside wall time because
    on a shared machine the wall-time ratio mostly measures the neighbours.
    """
    time_plain_runs(xp, sizes, 1)
    plain = checked = (float("inf"), float("inf"))
    own = float("inf")
    for _ in range(repeats):
        plain = tuple(map(min, plain, time_plain_runs(xp, sizes, runs)))
        spent, own_s, report = time_check(xp, sizes, runs)
        checked = tuple(map(min, checked, spent))
        own = min(own, own_s)
    return {
        "backend": label, "state_mb": tracked_mb(make_namespace(xp, sizes)),
        "steps": report["steps"], "plain_s": plain[0], "check_s": checked[0], "own_s": own,
        "ratio": checked[0] / plain[0], "cpu_ratio": checked[1] / plain[1],
        "deterministic": report["deterministic"], "digest_gbs": digest_throughput(xp),
    }


STATE_SETUP = """\
import numpy as np
params = {{f"W{{k}}": np.full({n}, 0.5 + k) for k in range(4)}}
losses = []
"""

STATE_CELL = """\
for step in range({steps}):
    for W in params.values():
        W *= 0.999
        W += 0.001
    losses.append(float(params["W0"][0]))
"""


def state_namespace(megabytes: int) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(STATE_SETUP.format(n=megabytes * 2**20 // 8 // 4), namespace)
    return namespace


def measure_state(megabytes: int, steps: int, repeats: int = 2) -> dict[str, Any]:
    """Wall-time ratio and extra peak memory of a check on ``megabytes`` of state."""
    cell = STATE_CELL.format(steps=steps)
    plain = checked = float("inf")
    for _ in range(repeats):
        spent = 0.0
        for _ in range(2):
            namespace = state_namespace(megabytes)
            start = time.perf_counter()
            exec(cell, namespace)
            spent += time.perf_counter() - start
        plain = min(plain, spent)
        namespace = state_namespace(megabytes)
        start = time.perf_counter()
        report = check_determinism(cell, namespace, runs=2)
        checked = min(checked, time.perf_counter() - start)
        del namespace
    namespace = state_namespace(megabytes)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    check_determinism(cell, namespace, runs=2)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    state = megabytes * 2**20
    return {"state_mb": megabytes, "steps": steps, "plain_s": plain, "check_s": checked,
            "ratio": checked / plain, "extra_peak": peak / state,
            "deterministic": report.to_dict()["deterministic"]}


def state_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| state | steps | 2 plain runs | check (runs=2) | wall ratio | extra peak memory "
             "| deterministic |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['state_mb']} MB | {r['steps']} | {r['plain_s']:.2f} s | "
                     f"{r['check_s']:.2f} s | {r['ratio']:.2f}× | {r['extra_peak']:.2f}× state "
                     f"| {r['deterministic']} |")
    return "\n".join(lines)


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| backend | tracked state | steps | 2 plain runs | check (runs=2) | wall ratio | "
             "CPU-time ratio | nbgrad's own work | deterministic | digest throughput |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['state_mb']:.0f} MB | {r['steps']} | "
                     f"{r['plain_s']:.2f} s | {r['check_s']:.2f} s | {r['ratio']:.2f}× | "
                     f"{r['cpu_ratio']:.2f}× | {r['own_s']:.2f} s "
                     f"({1 + r['own_s'] / r['plain_s']:.2f}×) | {r['deterministic']} | "
                     f"{r['digest_gbs']:.1f} GB/s |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update RESULTS_determinism.md")
    parser.add_argument("--large", action="store_true", help="also 1 GiB of state")
    parser.add_argument("--steps", type=int, default=50, help="steps of the state-size loop")
    args = parser.parse_args()
    rows = [measure(np, "numpy (CPU)", {"T": 20, "H": 64, "M": 32, "steps": 3})]
    cupy = cupy_module()
    if cupy is not None:
        rows.append(measure(cupy, "CuPy (GPU)", {"T": 20, "H": 64, "M": 64, "steps": 6}))
    else:
        print("CuPy/GPU not available: GPU variant skipped", file=sys.stderr)
    text = table(rows)
    sized = [measure_state(256, args.steps)]
    if args.large:
        sized.append(measure_state(1024, args.steps))
    text += "\n\nState size (numpy, parameters updated in place):\n\n" + state_table(sized)
    print(text)
    if args.write:
        machine = (f"{platform.machine()}, {os.cpu_count()} cores, load average "
                   f"{os.getloadavg()[0]:.1f} when it finished, Python "
                   f"{platform.python_version()}, numpy {np.__version__}")
        results = Path(__file__).with_name("RESULTS_determinism.md")
        gpu_note = ("this run had one." if cupy is not None
                    else "this run had none, so the GPU variant was skipped.")
        results.write_text(_RESULTS.format(table=text, machine=machine, gpu_note=gpu_note))


_RESULTS = """\
# `check_determinism` overhead

Command: `python benchmarks/bench_determinism.py --write` ({machine}).

{table}

*wall ratio* = wall time of `check_determinism(cell, ns, runs=2)` (snapshot, plain run 0 with
per-step digests, one poisoned and reseeded rerun with per-step digests, restore) divided by
two plain runs of the same cell from the same state (*CPU-time ratio*: the same with the
process's CPU time, all threads, which neighbours on a shared machine disturb less).
Goal: < 1.2×.
*nbgrad's own work*: time inside snapshot, restore and digest calls during the check, and in
brackets 1 + that time / two plain runs — the overhead with the neighbours' noise taken out.
On a shared 2-core machine the plain runs alone vary by ±40 % from one repeat to the next
(other jobs), so the wall and CPU ratios there say more about the neighbours than about nbgrad.
*digest throughput*: the host digest (XXH3-128 when `xxhash` is installed, else SHA-1,
chunks hashed on all cores) over a 256 MB buffer; on the GPU the device digest kernel
(16 bytes per array come back to the host).  Timings are the best of three.
A "CuPy (GPU)" row is added when CuPy sees a CUDA device; {gpu_note}
*extra peak memory*: the check's peak traced allocation (``tracemalloc``) above what the
namespace held before, as a multiple of the state; goal ≤ 1.5×.  The state-size loop
updates its four parameter arrays in place: run 0's end snapshot keeps their digests,
not copies, and a deterministic rerun leaves run 0's bytes in them again.
"""


if __name__ == "__main__":
    main()
