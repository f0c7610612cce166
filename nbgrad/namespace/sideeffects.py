"""What the user's code does outside the namespace while a check reruns it.

A gradient check runs the cost once per evaluation (36 times for a
4-element full check), a determinism check reruns the training loop; a
snapshot puts variables back, but two effects live outside any namespace:

- **the working directory.**  ``os.makedirs('d'); os.chdir('d')`` in the cell
  would leave the process 36 directories deep.  :meth:`SideEffects.run` starts
  every run in the same directory and puts it back afterwards, and counts
  the runs that moved it;
- **files opened for writing.**  They cannot be undone, but they are counted
  and reported (``the cell wrote losses.txt 36 times during the check``).
  The count comes from an audit hook on ``open`` (:pep:`578`; it sees
  ``open()``, ``io.open``, ``os.open``, ``pathlib``, ``np.save``).

``sys.addaudithook`` cannot be removed, so the hook is installed once per
process and is a no-op unless a run is being watched: the watching
:class:`SideEffects` is found through a :class:`contextvars.ContextVar`, so
other threads (the kernel's own) and code outside a run are never counted.

>>> import os, tempfile
>>> effects = SideEffects("the cell")
>>> with tempfile.TemporaryDirectory() as folder:
...     for _ in range(3):
...         with effects.run():
...             os.chdir(folder)
...             with open("losses.txt", "a") as log:
...                 _ = log.write("0.5\\n")
...     effects.start == os.getcwd()
True
>>> [item["message"] for item in effects.findings("during the check")]  # doctest: +ELLIPSIS
['the cell wrote .../losses.txt 3 times during the check', 'the cell changed the working ...']
"""

from __future__ import annotations

import contextvars
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The SideEffects watching the current run (None outside runs, and in other threads).
_WATCHING: contextvars.ContextVar[SideEffects | None] = contextvars.ContextVar(
    "nbgrad_side_effects", default=None)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
#: Writes that are no side effect of the user's: compiled imports, devices.
_IGNORED_SUFFIXES = (".pyc",)
_IGNORED_PREFIXES = ("/dev/", "/proc/")
_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """The process-wide audit hook; it must be cheap and must never raise."""
    if event != "open":
        return
    watcher = _WATCHING.get()
    if watcher is None:
        return
    try:
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & _WRITE_FLAGS)
        if writing and isinstance(path, str | bytes | os.PathLike):
            watcher.wrote(os.fsdecode(path))
    except Exception:  # an odd argument tuple: never break the user's open()
        return


def _install() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_audit)
        _installed = True


class SideEffects:
    """Effects outside the namespace across the runs of one check; see the module docstring.

    ``who`` names the code in the messages ("the cell", "fun").  ``start`` is
    the directory every run starts in (default: the current one) and ``end``
    the one it is put back to after each run (default: ``start``); a
    determinism check ends in the directory its plain run 0 left.
    """

    def __init__(self, who: str, start: str | None = None, end: str | None = None) -> None:
        self.who = who
        self.start = start if start is not None else os.getcwd()
        self.end = end if end is not None else self.start
        self.writes: Counter[str] = Counter()
        self.moves: Counter[str] = Counter()
        self.runs = 0

    def wrote(self, path: str) -> None:
        absolute = os.path.abspath(path)
        if not absolute.endswith(_IGNORED_SUFFIXES) and not absolute.startswith(
                _IGNORED_PREFIXES):
            self.writes[absolute] += 1

    @contextmanager
    def run(self) -> Iterator[None]:
        """One evaluation or rerun: it starts in ``start``; the cwd is put back to ``end``."""
        _install()
        if os.getcwd() != self.start:
            os.chdir(self.start)
        token = _WATCHING.set(self)
        try:
            yield
        finally:
            _WATCHING.reset(token)
            self.runs += 1
            where = _cwd()
            if where != self.start:
                self.moves[where or "a directory that no longer exists"] += 1
            if where != self.end:
                os.chdir(self.end)

    def findings(self, during: str) -> list[dict[str, Any]]:
        """The report's ``side_effects`` entries, most frequent first (empty when none)."""
        items = [
            {"kind": "write", "path": self._shown(path), "count": count,
             "message": f"{self.who} wrote {self._shown(path)} {_times(count)} {during}"}
            for path, count in self.writes.most_common()
        ]
        moved = sum(self.moves.values())
        if moved:
            where = self._shown(self.moves.most_common(1)[0][0])
            items.append({
                "kind": "chdir", "path": where, "count": moved,
                "message": f"{self.who} changed the working directory (to {where}) in "
                           f"{_times(moved, 'run')} {during}; nbgrad put it back to "
                           f"{self.end} after each",
            })
        return items

    def _shown(self, path: str) -> str:
        """A path relative to where the runs started when it lies below it."""
        relative = os.path.relpath(path, self.start) if os.path.isabs(path) else path
        return path if relative.startswith(os.pardir) else relative


def _cwd() -> str | None:
    try:
        return os.getcwd()
    except FileNotFoundError:  # the run removed the directory it was in
        return None


def _times(count: int, unit: str = "time") -> str:
    return f"{count} {unit}" + ("" if count == 1 else "s")
