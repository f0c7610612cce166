"""How much memory a check may still use: cgroup-aware, read before any copy is made.

``/proc/meminfo``'s ``MemAvailable`` describes the machine; in a container or
a CI runner the process is held to its cgroup's limit, which is usually far
lower, and exceeding it kills the kernel instead of raising MemoryError.  The
figure here is the smallest of

- cgroup v2: ``memory.max − (memory.current − inactive_file)`` of the
  process's cgroup and each of its ancestors (``/proc/self/cgroup`` ``0::/path``);
- cgroup v1: ``memory.limit_in_bytes − (memory.usage_in_bytes −
  total_inactive_file)`` of the ``memory`` controller's cgroup and its ancestors;
- ``MemAvailable`` in ``/proc/meminfo`` (else free pages from ``sysconf``).

Page cache the kernel can drop (``inactive_file``) is not counted as used.
Both engines read this one figure: the snapshot's check before copying
(:mod:`nbgrad.namespace.snapshot`) and the gradient check's plan.

:data:`ROOT` (or ``root=``) lets tests point the reader at a fake ``/proc`` and ``/sys``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nbgrad.backend import array_module

#: Where ``/proc`` and ``/sys`` are read from (tests point it at a fake tree).
ROOT = Path("/")
#: A limit this large is "no limit" (cgroup v1 writes LONG_MAX rounded down to pages).
_UNLIMITED = 2**60


@dataclass(frozen=True)
class Available:
    """Bytes that may still be allocated, and which limit says so (for messages)."""

    bytes: int
    source: str

    def __str__(self) -> str:
        return f"{size(self.bytes)} ({self.source})"


def available_host_memory(root: Path | str | None = None) -> Available | None:
    """The tightest of the cgroup limits and the machine's available memory (None: unknown)."""
    root = ROOT if root is None else Path(root)
    found = [*_cgroup_v2(root), *_cgroup_v1(root)]
    found += [item for item in (_meminfo(root),) if item is not None]
    if not found and root == Path("/"):
        found = [item for item in (_sysconf(),) if item is not None]
    return min(found, key=lambda item: item.bytes) if found else None


def available_device_memory(array: Any) -> int:
    """Free memory on ``array``'s GPU, counting the pool blocks CuPy can reuse there.

    The pool is the one behind the allocator in use (a user's own
    ``MemoryPool().malloc`` too; none with the pool disabled), read on
    ``array``'s device.
    """
    cupy = array_module(array)
    pool = getattr(cupy.cuda.get_allocator(), "__self__", None)
    with array.device:
        free, _total = cupy.cuda.runtime.memGetInfo()
        reusable = pool.free_bytes() if isinstance(pool, cupy.cuda.MemoryPool) else 0
    return free + reusable


def size(nbytes: float) -> str:
    """``1.5 GB``, ``80.0 MB``, ``12.0 KB``, ``512 bytes`` (a 1 KB limit must not read 0.0 MB)."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if nbytes >= scale or (unit == "MB" and nbytes >= scale // 10):
            return f"{nbytes / scale:.1f} {unit}"
    return f"{int(nbytes)} bytes"


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _number(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.strip()) if text is not None else None
    except ValueError:  # "max": no limit at this level
        return None


def _stat(path: Path, key: str) -> int:
    for line in (_read(path) or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


def _own_cgroups(root: Path) -> list[tuple[str, str]]:
    """``(controllers, path)`` per line of ``/proc/self/cgroup``."""
    entries = []
    for line in (_read(root / "proc/self/cgroup") or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            entries.append((parts[1], parts[2].strip()))
    return entries


def _cgroup_v2(root: Path) -> list[Available]:
    paths = [path for controllers, path in _own_cgroups(root) if controllers == ""]
    return _cgroup_levels(root, "sys/fs/cgroup", paths, "memory.max", "memory.current",
                          "inactive_file", "cgroup v2")


def _cgroup_v1(root: Path) -> list[Available]:
    paths = [path for controllers, path in _own_cgroups(root)
             if "memory" in controllers.split(",")]
    return _cgroup_levels(root, "sys/fs/cgroup/memory", paths, "memory.limit_in_bytes",
                          "memory.usage_in_bytes", "total_inactive_file", "cgroup v1")


def _cgroup_levels(root: Path, mount_point: str, paths: list[str], limit_file: str,
                   usage_file: str, cache_key: str, version: str) -> list[Available]:
    """One figure per level with a limit, from the process's cgroup up to the mount.

    A limit applies to everything below its level, so each ancestor counts;
    in a container the own path is often not visible, and the mount's root
    (the container's cgroup) is read instead.
    """
    if not paths:
        return []
    mount = root / mount_point
    level = mount / paths[0].lstrip("/")
    figures = []
    while True:
        limit, usage = _number(level / limit_file), _number(level / usage_file)
        if limit is not None and usage is not None and limit < _UNLIMITED:
            used = max(usage - _stat(level / "memory.stat", cache_key), 0)
            figures.append(Available(max(limit - used, 0), (
                f"{version} limit {level.relative_to(root).as_posix()}/{limit_file} = "
                f"{size(limit)}, {size(used)} in use")))
        if level == mount or mount not in level.parents:
            return figures
        level = level.parent


def _meminfo(root: Path) -> Available | None:
    for line in (_read(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            try:
                return Available(int(line.split()[1]) * 1024, "MemAvailable in /proc/meminfo")
            except (IndexError, ValueError):
                return None
    return None


def _sysconf() -> Available | None:
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return Available(pages, "free pages (sysconf)")
