"""Progress for checks that take long enough to wonder about: done/total and an ETA.

The numerical cores report progress through a plain ``callback(done, total)``
and know nothing about where it is shown; the magics wrap a check in
:func:`progress_reporter`.  Nothing appears for checks shorter than
``min_seconds`` (most gradient checks), so quick cells stay clean.  In a
kernel the bar is a live ``IntProgress`` widget; elsewhere (plain IPython, a
script, CI) it is one line on stderr rewritten in place.  Either way it is
removed on exit, including when the user interrupts the check.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from nbgrad.report.bundle import in_live_kernel

ProgressCallback = Callable[[int, int], None]
#: Seconds between two redraws: keeps comm traffic and terminal writes negligible.
REDRAW_INTERVAL = 0.2


@contextmanager
def progress_reporter(
    label: str, *, min_seconds: float = 1.0, stream: TextIO | None = None
) -> Iterator[ProgressCallback]:
    """Yield ``callback(done, total)``; show progress only once ``min_seconds`` have passed."""
    progress = Progress(label, min_seconds, stream)
    try:
        yield progress
    finally:
        progress.close()


class Progress:
    """The callback: throttles redraws and opens the display lazily."""

    def __init__(
        self,
        label: str,
        min_seconds: float,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.min_seconds = min_seconds
        self.stream = stream
        self.clock = clock
        self.started = clock()
        self.last_drawn = float("-inf")
        self.display: WidgetBar | TextLine | None = None

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if now - self.started < self.min_seconds:
            return
        if now - self.last_drawn < REDRAW_INTERVAL and done < total:
            return
        self.last_drawn = now
        if self.display is None:
            self.display = self._open_display()
        self.display.draw(done, total, describe(done, total, now - self.started))

    def close(self) -> None:
        if self.display is not None:
            self.display.close()
            self.display = None

    def _open_display(self) -> WidgetBar | TextLine:
        if self.stream is None and in_live_kernel():
            return WidgetBar(self.label)
        return TextLine(self.label, self.stream or sys.stderr)


def describe(done: int, total: int, elapsed: float) -> str:
    """``"120/400 (30%), 2.1 s elapsed, about 4.9 s left"``."""
    share = done / total if total > 0 else 0.0
    text = f"{done}/{total} ({share:.0%}), {_duration(elapsed)} elapsed"
    if 0 < done < total:
        text += f", about {_duration(elapsed / done * (total - done))} left"
    return text


class WidgetBar:
    """``IntProgress`` and a label in a kernel; closing the widget removes it from the page."""

    def __init__(self, label: str) -> None:
        import ipywidgets as widgets
        from IPython.display import display

        self.bar = widgets.IntProgress(value=0, min=0, max=1, description=label)
        self.text = widgets.Label()
        self.box = widgets.HBox([self.bar, self.text])
        display(self.box)

    def draw(self, done: int, total: int, text: str) -> None:
        self.bar.max = max(total, 1)
        self.bar.value = min(done, self.bar.max)
        self.text.value = text

    def close(self) -> None:
        self.box.close()
        self.bar.close()
        self.text.close()


class TextLine:
    """One status line rewritten with a carriage return, wiped on close."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self.label = label
        self.stream = stream
        self.width = 0

    def draw(self, done: int, total: int, text: str) -> None:
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

