"""Localisation: trace one step line by line and find the first variable that differs.

Only the user's code — notebook cells and the user's own ``.py`` files (see
:mod:`nbgrad.namespace.usercode`) — is traced, and only during
the divergent step, so the cost is paid once and only when there is something
to find.  At every line event the tracer digests the frame's array and number
locals (and the globals the function assigns), attributing them to the line
that *just ran*.  Running the same step under two configurations and
comparing the event streams gives the first line whose result differs.

An array fresh from a poisoned ``empty`` differs between differently
poisoned runs by construction; what matters is when its garbage is *read*.
So elements still holding the whole poison pattern are masked out of its
digest: ``x = np.empty(n)`` and ``x[:] = 0`` never count as divergence,
``x += y`` does.
"""

from __future__ import annotations

import ast
import dis
import re
import sys
from dataclasses import dataclass, field
from functools import cache
from types import CodeType, FrameType
from typing import Any

from nbgrad.backend import array_module, is_array, to_numpy
from nbgrad.determinism.digest import Digest, SequenceCache, digest_all
from nbgrad.determinism.poison import Allocation, AllocationRegistry
from nbgrad.errors import UsageError
from nbgrad.namespace.paths import parse_path, resolve
from nbgrad.namespace.snapshot import is_trackable, object_leaves
from nbgrad.namespace.usercode import Site, is_user_file

MAX_TRACED_SEQUENCE = 64

#: How a function's return value is named in a report (never a Python identifier).
RETURN_VALUE = "return value"


class StopRun(BaseException):
    """Raised from a hook to end a run early once the wanted step or event is reached."""


@dataclass
class LineEvent:
    site: Site
    digests: dict[str, Digest]


@dataclass
class Mismatch:
    """First event where this run differs from the reference."""

    index: int
    site: Site
    variable: str | None
    value: Any = None
    allocation: Allocation | None = None


@cache
def stored_globals(code: CodeType) -> frozenset[str]:
    """Global names a function assigns (``global bias_c; bias_c = ...``)."""
    return frozenset(i.argval for i in dis.get_instructions(code) if i.opname == "STORE_GLOBAL")


def _element_bytes(array: Any) -> Any:
    xp = array_module(array)
    return xp.ascontiguousarray(array).reshape(-1).view(xp.uint8).reshape(-1, array.itemsize)


def masked_unwritten(array: Any, pattern: int) -> Any:
    """Bytes of ``array`` with elements that still hold the whole poison pattern zeroed."""
    xp = array_module(array)
    raw = _element_bytes(array)
    untouched = (raw == pattern).all(axis=1)
    return xp.where(untouched[:, None], xp.uint8(0), raw)


def written_agree(reference: Any, array: Any, pattern: int) -> bool:
    """True when every element of ``array`` not still holding ``pattern`` equals ``reference``'s.

    ``reference`` comes from an unpoisoned run, whose unwritten elements hold
    whatever the allocator left; only the elements this run wrote can be compared.
    """
    if getattr(reference, "shape", None) != array.shape or reference.dtype != array.dtype:
        return False
    raw = to_numpy(_element_bytes(array))
    written = ~(raw == pattern).all(axis=1)
    return bool((raw[written] == to_numpy(_element_bytes(reference))[written]).all())


def _loaded_names(source: str | None) -> list[str]:
    """Names a line reads, in order (to find which poisoned array it read)."""
    if not source:
        return []
    try:
        tree = ast.parse(source.rstrip(":") + ("\n    pass" if source.endswith(":") else ""))
    except SyntaxError:
        return []
    return [n.id for n in ast.walk(tree) if isinstance(n, ast.Name)]


@dataclass
class StepTracer:
    """``sys.settrace`` hooks that record (or compare) digests of locals per line."""

    cell_filename: str | None
    registry: AllocationRegistry
    module_names: list[str]
    reference: list[LineEvent] | None = None
    capture_index: int | None = None
    capture_variable: str | None = None
    events: list[LineEvent] = field(default_factory=list)
    mismatch: Mismatch | None = None
    captured: Any = None
    _last_line: dict[int, int] = field(default_factory=dict)
    #: Long lists rehashed block by block between events (no blind spot, not quadratic).
    _sequences: SequenceCache = field(default_factory=dict)

    def start(self, frame: FrameType | None) -> None:
        """Trace new calls and, if given, the already running frame that holds the loop.

        Frames further up (the notebook cell that invoked the magic) are left
        alone: they are blocked in the call for as long as tracing lasts.
        """
        sys.settrace(self._on_call)
        if frame is not None and self._wanted(frame.f_code):
            frame.f_trace = self._on_event
            frame.f_trace_lines = True
            self._last_line[id(frame)] = frame.f_lineno

    @staticmethod
    def stop() -> None:
        sys.settrace(None)

    def finish(self, frame: FrameType) -> None:
        """Record the line that ran last in ``frame`` (the step hook shares its line number)."""
        self.stop()
        previous = self._last_line.pop(id(frame), None)
        if previous is not None and self._wanted(frame.f_code):
            self._record(frame, Site(frame.f_code.co_filename, _function_name(frame), previous))

    def _wanted(self, code: CodeType) -> bool:
        return is_user_file(code.co_filename, self.cell_filename)

    def _on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        return self._on_event if self._wanted(frame.f_code) else None

    def _on_event(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event in ("line", "return"):
            previous = self._last_line.get(id(frame))
            if previous is not None:
                site = Site(frame.f_code.co_filename, _function_name(frame), previous)
                self._record(frame, site, arg if event == "return" else None)
            if event == "line":
                self._last_line[id(frame)] = frame.f_lineno
            else:
                self._last_line.pop(id(frame), None)
        return self._on_event

    def _values(self, frame: FrameType) -> dict[str, Any]:
        if frame.f_code.co_name == "<module>":
            scope = frame.f_globals
            values = {}
            for name in self.module_names:
                try:
                    value = resolve(scope, parse_path(name))
                except (LookupError, UsageError):
                    continue
                values[name] = value
                values.update(object_leaves(name, value, scope.get("__name__")))
        else:
            values = dict(frame.f_locals)
            for name in stored_globals(frame.f_code):
                values.setdefault(name, frame.f_globals.get(name))
        return _entries(values, frame.f_globals.get("__name__"))

    def _digests(self, values: dict[str, Any]) -> dict[str, Digest]:
        prepared = {}
        for name, value in values.items():
            allocation = self.registry.find(value) if is_array(value) else None
            prepared[name] = (value if allocation is None
                              else masked_unwritten(value, allocation.pattern))
        return digest_all(prepared, self._sequences)

    def _record(self, frame: FrameType, site: Site, returned: Any = None) -> None:
        """Digest the frame after ``site`` ran; a returned value is compared as well.

        ``return float(g.sum())`` can carry unread-looking garbage out of a
        function (``g += 0`` leaves the poison intact, so ``g`` is masked):
        without the return value the divergence would surface only in the caller.
        """
        index = len(self.events)
        values = self._values(frame)
        if returned is not None and is_trackable(returned):
            values[RETURN_VALUE] = returned
        event = LineEvent(site, self._digests(values))
        self.events.append(event)
        if index == self.capture_index and self.capture_variable in values:
            self.captured = to_numpy(values[self.capture_variable]).copy()
            raise StopRun
        if self.reference is not None:
            self._compare(index, event, values)

    def _compare(self, index: int, event: LineEvent, values: dict[str, Any]) -> None:
        if index >= len(self.reference):
            return
        expected = self.reference[index]
        if expected.site != event.site:  # control flow went elsewhere: report where to
            self.mismatch = Mismatch(index, event.site, None)
            raise StopRun
        differing = [n for n, d in event.digests.items()
                     if n in expected.digests and expected.digests[n] != d]
        if not differing:
            return
        read = _loaded_names(event.site.source)
        variable = next((n for n in read if n in differing), differing[0])
        inside = [n for n in values if re.split(r"[.\[]", n, maxsplit=1)[0] in read]
        allocation = next((a for n in [variable, *read, *inside] if n in values
                           and is_array(values[n])
                           and (a := self.registry.find(values[n])) is not None), None)
        self.mismatch = Mismatch(index, event.site, variable,
                                 to_numpy(values[variable]).copy(), allocation)
        raise StopRun


def _entries(values: dict[str, Any], module: str | None) -> dict[str, Any]:
    """What to digest at a line: values, with containers and objects opened up.

    ``self.dW2 += ...`` in a method is digested as ``self.dW2``; a buffer from
    ``np.empty_like`` kept in a local dict as ``bufs['h']`` (so its unwritten
    poison is masked and the *read* is named, not the allocation).
    """
    entries: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dict) and any(map(is_array, value.values())):
            entries.update((f"{name}[{key!r}]", item) for key, item in value.items()
                           if is_trackable(item))
        elif isinstance(value, (list, tuple)) and len(value) <= MAX_TRACED_SEQUENCE and \
                any(map(is_array, value)):
            entries.update((f"{name}[{index}]", item) for index, item in enumerate(value)
                           if is_trackable(item))
        elif is_trackable(value):
            entries[name] = value
        else:
            entries.update(object_leaves(name, value, module))
    return entries


def _function_name(frame: FrameType) -> str | None:
    name = frame.f_code.co_name
    return None if name == "<module>" else name
