"""Which code is the user's: cells of this notebook, not numpy, not nbgrad.

Localisation traces only these code objects (tracing library internals would
be slow and would point at numpy instead of the user's line), an allocation
is attributed to the innermost frame that is the user's, and tracebacks shown
to the user leave nbgrad's own frames out (:func:`user_traceback`).  Cell
sources checked by either engine are registered once, here
(:func:`register_source`), so reports and tracebacks can quote their lines.
"""

from __future__ import annotations

import functools
import hashlib
import linecache
import os
import re
import site
import sys
import sysconfig
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

#: nbgrad's own package directory: frames under it are never the user's.
NBGRAD_DIR = str(Path(__file__).resolve().parents[1])

#: ipykernel writes cells to /tmp/ipykernel_<pid>/<hash>.py; terminal IPython
#: compiles them as <ipython-input-N-hash>; nbgrad's own cells as <nbgrad-cell-...>.
_CELL_FILE = re.compile(
    r".*[/\\]ipykernel_\d+[/\\][^/\\]+\.py|<ipython-input-[^>]*>|<nbgrad-[^>]*>"
)


def is_notebook_file(filename: str, cell_filename: str | None = None) -> bool:
    """True for the checked cell's file and for files of any notebook cell."""
    return filename == cell_filename or _CELL_FILE.fullmatch(filename) is not None


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    """Where installed packages and the standard library live (not the user's code)."""
    paths = sysconfig.get_paths()
    found = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib", "purelib",
                                                      "platlib") if key in paths}
    site_dirs = [*getattr(site, "getsitepackages", list)(), site.getusersitepackages()]
    found.update(os.path.realpath(p) for p in site_dirs)
    found.add(NBGRAD_DIR)
    return tuple(sorted(found))


@functools.lru_cache(maxsize=4096)
def is_user_source_file(filename: str) -> bool:
    """A ``.py`` file on disk outside the standard library, site-packages and nbgrad."""
    if not filename or filename.startswith("<") or not filename.endswith(".py"):
        return False
    real = os.path.realpath(filename)
    return os.path.isfile(real) and not any(real.startswith(directory + os.sep)
                                            for directory in _library_dirs())


def is_user_module(name: str) -> bool:
    """A module imported from a file outside the libraries: the user's own code."""
    filename = getattr(sys.modules.get(name), "__file__", None)
    return bool(filename) and is_user_source_file(filename)


def user_modules() -> Iterator[Any]:
    """The user's own imported modules (``import nnutil`` of a file next to the notebook)."""
    for name, module in list(sys.modules.items()):
        if name != "__main__" and is_user_module(name):
            yield module


def is_user_file(filename: str, cell_filename: str | None = None) -> bool:
    """Code the user wrote: a notebook cell, or one of the user's own ``.py`` files."""
    return is_notebook_file(filename, cell_filename) or is_user_source_file(filename)


def register_source(source: str, purpose: str = "cell", filename: str | None = None) -> str:
    """Put ``source`` into :mod:`linecache` and return the file name it is known by.

    Without ``filename`` the name is stable, ``<nbgrad-PURPOSE-HASH>``: the
    same cell text always gets the same name, so tracebacks and the source
    lines quoted in reports work, and rerunning a check does not grow the cache.
    """
    if filename is None:
        digest = hashlib.sha1(source.encode()).hexdigest()[:12]
        filename = f"<nbgrad-{purpose}-{digest}>"
    lines = source.splitlines(keepends=True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    return filename


def user_traceback(exc: BaseException, *, header: bool = True) -> str:
    """The traceback of the user's exception without nbgrad's frames: what a plain run shows.

    A ``SyntaxError`` keeps no frames (they are the parser's, not the user's).
    """
    frames = [] if isinstance(exc, SyntaxError) else [
        frame for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith(NBGRAD_DIR)]
    lines = traceback.format_list(frames)
    if header and lines:
        lines.insert(0, "Traceback (most recent call last):\n")
    return "".join(lines + traceback.format_exception_only(type(exc), exc))


def source_line(filename: str, line: int) -> str | None:
    text = linecache.getline(filename, line).strip()
    return text or None


def context_lines(filename: str, line: int, radius: int = 2) -> list[dict[str, object]]:
    """The line and a few around it, for the report's ``context``."""
    lines = linecache.getlines(filename)
    first, last = max(1, line - radius), min(len(lines), line + radius)
    return [{"line": n, "text": lines[n - 1].rstrip("\n")} for n in range(first, last + 1)]


@dataclass(frozen=True)
class Site:
    """A place in the user's code: the report's ``function``/``line``/``source``."""

    filename: str
    function: str | None
    line: int

    @property
    def source(self) -> str | None:
        return source_line(self.filename, self.line)

    @classmethod
    def of_frame(cls, frame: FrameType) -> Site:
        name = frame.f_code.co_name
        return cls(frame.f_code.co_filename, None if name == "<module>" else name, frame.f_lineno)


def user_site(cell_filename: str | None, skip: int = 1) -> Site | None:
    """The innermost calling frame that is the user's (a cell or the user's ``.py``), if any."""
    frame: FrameType | None = sys._getframe(skip + 1)
    while frame is not None:
        if is_user_file(frame.f_code.co_filename, cell_filename):
            return Site.of_frame(frame)
        frame = frame.f_back
    return None
