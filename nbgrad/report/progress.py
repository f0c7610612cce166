"""Progress for checks that take long enough to wonder about: done/total per phase and an ETA.

The numerical cores report progress through a plain ``callback(done, total)``
and know nothing about where it is shown; the magics wrap a check in
:func:`progress_reporter`.  Nothing appears for checks shorter than
``min_seconds`` (most gradient checks), so quick cells stay clean.

Honest totals: an engine announces its evaluations phase by phase (the
gradient check plans the central differences first, then only the elements
that need confirming, then the step curve), so ``total`` grows.  Each growth
starts a new *phase* with its own fixed total, and the ETA speaks of that
phase only ("about 4 s left in this phase"), never of a total that is about
to jump.

Nothing left behind: in a kernel the progress is one ``display_data`` output
updated in place (``display_id``) with a small HTML bar and a text line, and
emptied when the check ends, also on Ctrl-C, before the report is shown; no
widget model is created, so a saved notebook holds no "model not found" and
an export no ``IntProgress(…)``.  Elsewhere (plain IPython, a script, CI) it
is one line on stderr rewritten in place and wiped.

A full gradient check of more than ``10⁴`` elements that is still running
after ``FAST_HINT_SECONDS`` adds one line with the equivalent ``--mode fast``
command (the magic passes it in).  The element count is read from the first
phase: full mode plans two evaluations per element there.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from nbgrad.report import fmt
from nbgrad.report.bundle import in_live_kernel

ProgressCallback = Callable[[int, int], None]
#: Seconds between two redraws: keeps display traffic and terminal writes negligible.
REDRAW_INTERVAL = 0.2
#: A full check still running after this many seconds gets the ``--mode fast`` hint...
FAST_HINT_SECONDS = 5.0
#: ...when its first phase plans more evaluations than this (two per element: 10⁴ elements).
FAST_HINT_EVALUATIONS = 2 * 10**4
#: Characters of the label shown (the full label is the report's).
LABEL_CHARS = 80


@contextmanager
def progress_reporter(
    label: str, *, min_seconds: float = 1.0, stream: TextIO | None = None,
    unit: str = "evaluations", fast_command: str | None = None,
) -> Iterator[ProgressCallback]:
    """Yield ``callback(done, total)``; show progress only once ``min_seconds`` have passed."""
    progress = Progress(label, min_seconds, stream, unit=unit, fast_command=fast_command)
    try:
        yield progress
    finally:
        progress.close()


class Progress:
    """The callback: splits a growing total into phases, throttles redraws, opens lazily."""

    def __init__(
        self,
        label: str,
        min_seconds: float,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        unit: str = "evaluations",
        fast_command: str | None = None,
    ) -> None:
        self.label = label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + "…"
        self.min_seconds = min_seconds
        self.stream = stream
        self.clock = clock
        self.unit = unit
        self.fast_command = fast_command
        self.started = clock()
        self.last_drawn = float("-inf")
        self.display: DisplayLine | TextLine | None = None
        self.total: int | None = None
        self.first_total = 0
        self.phase = 1
        self.phase_start = 0
        self.phase_started = self.started

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        self._follow_phases(done, total, now)
        if now - self.started < self.min_seconds:
            return
        if now - self.last_drawn < REDRAW_INTERVAL and done < total:
            return
        self.last_drawn = now
        if self.display is None:
            self.display = self._open_display()
        text = describe(done - self.phase_start, total - self.phase_start,
                        now - self.phase_started, self.unit,
                        self.phase if self._phased() else None)
        self.display.draw(done - self.phase_start, total - self.phase_start, text,
                          self._hint(now))

    def close(self) -> None:
        if self.display is not None:
            self.display.close()
            self.display = None

    def _follow_phases(self, done: int, total: int, now: float) -> None:
        """A grown total is a new phase, starting at the evaluation before this one."""
        if self.total is None:
            self.first_total = total
        elif total > self.total:
            self.phase += 1
            self.phase_start = min(max(done - 1, 0), self.total)
            self.phase_started = now
        self.total = total

    def _phased(self) -> bool:
        return self.unit == "evaluations"  # a gradient check plans phase by phase

    def _hint(self, now: float) -> str | None:
        if (self.fast_command is None or now - self.started < FAST_HINT_SECONDS
                or self.first_total <= FAST_HINT_EVALUATIONS):
            return None
        return (f"Checking every element one by one takes a while; {self.fast_command} "
                "checks random directions and localises wrong elements in far fewer "
                "evaluations.")

    def _open_display(self) -> DisplayLine | TextLine:
        if self.stream is None and in_live_kernel():
            return DisplayLine(self.label)
        return TextLine(self.label, self.stream or sys.stderr)


def describe(done: int, total: int, elapsed: float, unit: str = "evaluations",
             phase: int | None = None) -> str:
    """``"phase 2: 120/400 evaluations (30%), 2.1 s elapsed, about 4.9 s left in this phase"``."""
    share = done / total if total > 0 else 0.0
    text = f"{done}/{total} {unit} ({share:.0%}), {_duration(elapsed)} elapsed"
    if 0 < done < total:
        text += f", about {_duration(elapsed / done * (total - done))} left"
        if phase is not None:
            text += " in this phase"
    return text if phase is None else f"phase {phase}: {text}"


class DisplayLine:
    """One ``display_data`` output updated in place, emptied on close: nothing stays behind."""

    def __init__(self, label: str) -> None:
        from IPython.display import display

        self.label = label
        self.handle: Any = display(self._bundle(0, 1, "starting", None), raw=True,
                                   display_id=True)

    def draw(self, done: int, total: int, text: str, hint: str | None) -> None:
        self.handle.update(self._bundle(done, total, text, hint), raw=True)

    def close(self) -> None:
        self.handle.update({}, raw=True)

    def _bundle(self, done: int, total: int, text: str, hint: str | None) -> dict[str, str]:
        width = round(100 * min(done / total, 1.0)) if total > 0 else 0
        note = (f'<div style="color: {fmt.TEXT}">{html.escape(hint)}</div>' if hint else "")
        markup = (
            f'<div class="nbgrad-progress" style="font-size: 12px; color: {fmt.TEXT}">'
            f"<div>{html.escape(self.label)}: {html.escape(text)}</div>"
            f'<div style="width: 320px; height: 6px; background-color: {fmt.RULE}">'
            f'<div style="width: {width}%; height: 6px; background-color: #1f77b4"></div>'
            f"</div>{note}</div>"
        )
        plain = f"{self.label}: {text}" + (f"\n{hint}" if hint else "")
        return {"text/plain": plain, "text/html": markup}


class TextLine:
    """One status line rewritten with a carriage return, wiped on close; the hint once, kept."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.width = 0
        self.hinted = False

    def draw(self, done: int, total: int, text: str, hint: str | None) -> None:
        if hint and not self.hinted:
            self.hinted = True
            self._write("\r" + hint.ljust(self.width) + "\n")
            self.width = 0
        line = f"{self.label}: {text}"
        self._write("\r" + line.ljust(self.width))
        self.width = len(line)

    def close(self) -> None:
        self._write("\r" + " " * self.width + "\r")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
