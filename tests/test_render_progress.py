"""Progress: silent for quick checks, one rewritten line or a widget bar otherwise, always wiped."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbgrad.report.progress import (
    REDRAW_INTERVAL,
    Progress,
    WidgetBar,
    describe,
    progress_reporter,
)


def test_quick_checks_show_nothing() -> None:
    stream = io.StringIO()
    with progress_reporter("gradcheck", min_seconds=60, stream=stream) as callback:
        for done in range(100):
            callback(done, 100)
    assert stream.getvalue() == ""


def test_slow_checks_rewrite_one_line_and_wipe_it() -> None:
    stream = io.StringIO()
    now = [100.0]
    progress = Progress("gradcheck W", 1.0, stream, clock=lambda: now[0])
    progress(1, 40)  # before min_seconds: nothing
    now[0] += 1.5
    progress(10, 40)
    now[0] += REDRAW_INTERVAL / 2
    progress(11, 40)  # within the redraw interval: skipped
    now[0] += REDRAW_INTERVAL
    progress(30, 40)
    progress(40, 40)  # the last one is always drawn
    progress.close()
    written = stream.getvalue()
    draws = written.split("\r")[1:-2]
    assert [d.split(": ")[1].split(" (")[0] for d in draws] == ["10/40", "30/40", "40/40"]
    assert draws[0].endswith("(25%), 1.5 s elapsed, about 4.5 s left")
    assert "left" not in draws[-1]
    assert "\n" not in written
    wipe = written.split("\r")[-2]
    assert wipe == " " * len(draws[-1].rstrip())
    assert written.endswith("\r")


def test_interrupt_wipes_the_line_and_propagates() -> None:
    stream = io.StringIO()
    with pytest.raises(KeyboardInterrupt), progress_reporter(
        "determinism", min_seconds=0, stream=stream
    ) as callback:
        callback(1, 5)
        raise KeyboardInterrupt
    last = stream.getvalue().split("\r")
    assert last[-1] == "" and last[-2].strip() == ""
    assert callback.display is None


def test_widget_bar_tracks_progress_and_closes_its_widgets() -> None:
    bar = WidgetBar("gradcheck")
    bar.draw(3, 12, describe(3, 12, 1.5))
    assert (bar.bar.value, bar.bar.max) == (3, 12)
    assert bar.text.value.startswith("3/12 (25%)")
    bar.close()
    assert bar.box.comm is None and bar.bar.comm is None


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.floats(0.01, 1e4))
def test_eta_is_proportional_to_what_is_left(total: int, done: int, elapsed: float) -> None:
    done = min(done, total)
    text = describe(done, total, elapsed)
    assert text.startswith(f"{done}/{total} (")
    if 0 < done < total:
        left = text.split("about ")[1].removesuffix(" left")
        value, unit = left.split()
        seconds = float(value) * (60 if unit == "min" else 1)
        expected = elapsed / done * (total - done)
        assert abs(seconds - expected) <= 0.05 * expected + 0.05 + (3 if unit == "min" else 0)
    else:
        assert "left" not in text
