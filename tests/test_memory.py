"""Memory and work before a check: the cgroup-aware figure both engines read, the budget.

The reader runs on fake ``/proc`` and ``/sys`` trees laid out as the kernel
writes them (cgroup v2, v1, nested limits, a container's own root), then on
this machine's real files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nbgrad import check_determinism, gradcheck
from nbgrad.errors import SnapshotError, UsageError
from nbgrad.gradcheck.budget import EvaluationBudgetError, planned_evaluations
from nbgrad.namespace import memory
from nbgrad.namespace.memory import available_host_memory, size

GB = 2**30
MEMINFO = "MemTotal:       65536000 kB\nMemFree:         1000000 kB\nMemAvailable:   {} kB\n"


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_cgroup_v2_limit_counts_usage_but_not_droppable_cache(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "proc/self/cgroup": "0::/user.slice/job\n",
        "proc/meminfo": MEMINFO.format(32 * 2**20),  # 32 GB on the machine
        "sys/fs/cgroup/user.slice/job/memory.max": f"{4 * GB}\n",
        "sys/fs/cgroup/user.slice/job/memory.current": f"{3 * GB}\n",
        "sys/fs/cgroup/user.slice/job/memory.stat": f"anon 100\ninactive_file {GB}\n",
    })
    found = available_host_memory(root)
    assert found.bytes == 2 * GB
    assert found.source == ("cgroup v2 limit sys/fs/cgroup/user.slice/job/memory.max = 4.0 GB, "
                            "2.0 GB in use")


def test_an_ancestors_v2_limit_binds_when_the_own_level_says_max(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "proc/self/cgroup": "0::/ci/runner\n",
        "proc/meminfo": MEMINFO.format(32 * 2**20),
        "sys/fs/cgroup/ci/runner/memory.max": "max\n",
        "sys/fs/cgroup/ci/runner/memory.current": f"{GB // 4}\n",
        "sys/fs/cgroup/ci/memory.max": f"{GB}\n",
        "sys/fs/cgroup/ci/memory.current": f"{GB // 2}\n",
    })
    assert available_host_memory(root).bytes == GB // 2
    assert "sys/fs/cgroup/ci/memory.max" in available_host_memory(root).source


def test_cgroup_v1_limit_and_a_containers_own_root(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "proc/self/cgroup": "5:cpu:/\n4:memory:/docker/abc123\n0::/\n",
        "proc/meminfo": MEMINFO.format(32 * 2**20),
        # the own path is not visible inside the container: its cgroup is the mount's root
        "sys/fs/cgroup/memory/memory.limit_in_bytes": f"{2 * GB}\n",
        "sys/fs/cgroup/memory/memory.usage_in_bytes": f"{GB}\n",
        "sys/fs/cgroup/memory/memory.stat": f"cache 5\ntotal_inactive_file {GB // 2}\n",
    })
    found = available_host_memory(root)
    assert found.bytes == GB + GB // 2
    assert found.source.startswith("cgroup v1 limit sys/fs/cgroup/memory/memory.limit_in_bytes")


@pytest.mark.parametrize("limit", ["9223372036854771712", "max"])
def test_no_limit_falls_back_to_mem_available(tmp_path: Path, limit: str) -> None:
    root = tree(tmp_path, {
        "proc/self/cgroup": "4:memory:/job\n0::/job\n",
        "proc/meminfo": MEMINFO.format(3 * 2**20),
        "sys/fs/cgroup/memory/job/memory.limit_in_bytes": limit + "\n",
        "sys/fs/cgroup/memory/job/memory.usage_in_bytes": "100\n",
        "sys/fs/cgroup/job/memory.max": limit + "\n",
        "sys/fs/cgroup/job/memory.current": "100\n",
    })
    found = available_host_memory(root)
    assert (found.bytes, found.source) == (3 * GB, "MemAvailable in /proc/meminfo")


def test_the_machine_binds_when_it_has_less_than_the_cgroup_allows(tmp_path: Path) -> None:
    root = tree(tmp_path, {
        "proc/self/cgroup": "0::/\n",
        "proc/meminfo": MEMINFO.format(2**20),
        "sys/fs/cgroup/memory.max": f"{8 * GB}\n",
        "sys/fs/cgroup/memory.current": "0\n",
    })
    assert available_host_memory(root).bytes == GB


def test_nothing_readable_is_unknown(tmp_path: Path) -> None:
    assert available_host_memory(tree(tmp_path, {"proc/self/cgroup": "garbage"})) is None


def test_this_machine_gives_a_positive_figure() -> None:
    found = available_host_memory()
    assert found is not None and found.bytes > 0 and found.source


def test_the_default_root_is_what_the_engines_read(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {"proc/meminfo": MEMINFO.format(1234)})
    monkeypatch.setattr(memory, "ROOT", tmp_path)
    assert available_host_memory().bytes == 1234 * 1024


@pytest.mark.parametrize(("nbytes", "shown"), [(512, "512 bytes"), (12 * 1024, "12.0 KB"),
                                               (2**20 // 10, "0.1 MB"), (80 * 2**20, "80.0 MB"),
                                               (int(1.5 * GB), "1.5 GB")])
def test_sizes_read_naturally(nbytes: int, shown: str) -> None:
    assert size(nbytes) == shown


# -- before any work: the gradient check's plan, the snapshot's check -----------------------

def counting_cost(calls: list[int]):
    def cost(p):
        calls.append(1)
        return 0.5 * float((p ** 2).sum()), p.copy()
    return cost


def test_a_full_check_over_the_evaluation_budget_is_refused_up_front() -> None:
    calls: list[int] = []
    theta = np.ones(600)
    with pytest.raises(EvaluationBudgetError) as refused:
        gradcheck(counting_cost(calls), theta, max_evaluations=1000)
    assert calls == [] and np.array_equal(theta, np.ones(600))
    error = refused.value
    assert (error.coordinates, error.planned, error.budget) == (600, 1204, 1000)
    assert str(error).startswith("full mode would difference all 600 coordinates: at least "
                                 "1,204 evaluations of the cost, over the budget of 1,000")
    assert "mode='fast'" in str(error)
    assert gradcheck(counting_cost(calls), theta, mode="fast", max_evaluations=1000).passed
    assert gradcheck(counting_cost(calls), theta, max_evaluations=1204).passed


def test_the_planned_evaluations_are_what_the_progress_total_announces() -> None:
    totals: list[int] = []
    gradcheck(counting_cost([]), np.ones(7), progress=lambda done, total: totals.append(total))
    assert totals[0] == planned_evaluations(7, "full")
    with pytest.raises(UsageError, match="max_evaluations=0; expected a positive integer"):
        gradcheck(counting_cost([]), np.ones(7), max_evaluations=0)


def test_a_check_whose_copies_do_not_fit_is_refused_naming_the_limit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {  # a CI runner held to 2 MB by its cgroup, on a machine with 32 GB
        "proc/self/cgroup": "0::/runner\n",
        "proc/meminfo": MEMINFO.format(32 * 2**20),
        "sys/fs/cgroup/runner/memory.max": f"{2 * 2**20}\n",
        "sys/fs/cgroup/runner/memory.current": "0\n",
    })
    monkeypatch.setattr(memory, "ROOT", tmp_path)
    calls: list[int] = []
    theta = np.linspace(0, 1, 10_000)  # 80 KB: full mode's working arrays take 43 of those
    with pytest.raises(SnapshotError) as refused:
        gradcheck(counting_cost(calls), theta, max_evaluations=10**6)
    assert calls == [] and np.array_equal(theta, np.linspace(0, 1, 10_000))
    message = str(refused.value)
    assert message.startswith("a full check of 10,000 elements needs about 3.3 MB of working "
                              "memory (43 float64 arrays of the parameters' size) but only "
                              "2.0 MB (cgroup v2 limit sys/fs/cgroup/runner/memory.max")
    assert "or use mode='fast' (about 1.2 MB)" in message
    assert gradcheck(counting_cost(calls), theta, mode="fast").passed  # 1.2 MB fits


def test_the_determinism_snapshot_reads_the_same_cgroup_figure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, {
        "proc/self/cgroup": "4:memory:/job\n",
        "proc/meminfo": MEMINFO.format(32 * 2**20),
        "sys/fs/cgroup/memory/job/memory.limit_in_bytes": f"{2**20}\n",
        "sys/fs/cgroup/memory/job/memory.usage_in_bytes": f"{2**19}\n",
    })
    monkeypatch.setattr(memory, "ROOT", tmp_path)
    namespace = {"W": np.zeros(2**17)}  # 1 MB to copy, half a MB left under the limit
    with pytest.raises(SnapshotError, match=r"needs 1\.0 MB but the memory available \(cgroup "
                                            r"v1 limit sys/fs/cgroup/memory/job/memory\.limit"):
        check_determinism("W = W + 1", namespace)
    assert namespace["W"].sum() == 0


@pytest.mark.parametrize(("cell", "command"), [
    ("%gradcheck cost(w) --wrt w --max-evaluations 1000",
     "%gradcheck cost(w) --wrt w --max-evaluations 1000 --mode fast"),
    ("%gradcheck --wrt w --mode full --max-evaluations 1000 -- cost(w)",
     "%gradcheck --wrt w --max-evaluations 1000 --mode fast -- cost(w)"),
    ("%%gradcheck --wrt w --max-evaluations 1000\ncost(w)",
     "%%gradcheck --wrt w --max-evaluations 1000 --mode fast"),
])
def test_the_magic_refuses_over_budget_with_the_fast_command(shell, run_cell, capsys, cell,
                                                             command):
    run_cell("calls = []\nw = np.ones(600)\n"
             "def cost(w):\n    calls.append(1)\n    return 0.5 * float((w ** 2).sum()), w.copy()")
    capsys.readouterr()
    result = shell.run_cell(cell)
    assert result.error_in_exec is not None and shell.user_ns["calls"] == []
    err = capsys.readouterr().err
    assert err.startswith("UsageError: %gradcheck: full mode would difference all 600 "
                          "coordinates: at least 1,204 evaluations of the cost, over the budget "
                          "of 1,000 (--max-evaluations)")
    assert f"\n\n    {command}\n\nor allow the full check with --max-evaluations 1204" in err
    assert "Traceback" not in err
    source = command if not cell.startswith("%%") else command + "\ncost(w)"
    assert run_cell(source).passed
