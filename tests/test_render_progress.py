"""Progress: silent for quick checks; phases with fixed totals; one line rewritten or one display
updated in place, always emptied; the --mode fast hint for long full checks."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbgrad.report.progress import (
    FAST_HINT_EVALUATIONS,
    FAST_HINT_SECONDS,
    REDRAW_INTERVAL,
    Progress,
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
    assert [d.split(": ")[2].split(" (")[0] for d in draws] == [
        "10/40 evaluations", "30/40 evaluations", "40/40 evaluations"]
    assert draws[0].endswith("(25%), 1.5 s elapsed, about 4.5 s left in this phase")
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


def test_a_grown_total_is_a_new_phase_whose_total_never_changes() -> None:
    """The gradient check plans 15744, then 42236, then 44280: three phases, not one total."""
    stream = io.StringIO()
    now = [0.0]
    progress = Progress("gradcheck W", 0.0, stream, clock=lambda: now[0])
    shown = []
    for done, total in [(1, 15744), (15744, 15744), (15745, 42236), (30000, 42236),
                        (42236, 42236), (42237, 44280), (44280, 44280)]:
        now[0] += 1.0
        progress(done, total)
        shown.append(stream.getvalue().rsplit("\r", 1)[-1].strip())
    assert [line.split(": ")[1] for line in shown] == ["phase 1"] * 2 + ["phase 2"] * 3 + [
        "phase 3"] * 2
    totals = [line.split(": ")[2].split(" ")[0].split("/")[1] for line in shown]
    assert totals == ["15744", "15744", "26492", "26492", "26492", "2044", "2044"]
    assert shown[3].endswith("left in this phase")


def test_determinism_counts_runs_without_phases() -> None:
    assert describe(1, 3, 2.0, "runs") == "1/3 runs (33%), 2.0 s elapsed, about 4.0 s left"


@pytest.mark.parametrize(("planned", "seconds", "hinted"), [
    (FAST_HINT_EVALUATIONS + 10, FAST_HINT_SECONDS + 1, True),
    (FAST_HINT_EVALUATIONS + 10, FAST_HINT_SECONDS - 1, False),  # not long yet
    (FAST_HINT_EVALUATIONS - 10, FAST_HINT_SECONDS + 60, False),  # 10⁴ elements or fewer
])
def test_long_full_checks_of_many_elements_name_the_fast_command(
    planned: int, seconds: float, hinted: bool
) -> None:
    stream = io.StringIO()
    now = [0.0]
    command = "%gradcheck cost(W) --wrt W --mode fast"
    progress = Progress("gradcheck W", 0.0, stream, clock=lambda: now[0], fast_command=command)
    progress(1, planned)
    now[0] = seconds
    progress(2, planned)
    progress(3, planned)
    progress.close()
    assert stream.getvalue().count(command) == hinted  # one line, once


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.floats(0.01, 1e4))
def test_eta_is_proportional_to_what_is_left(total: int, done: int, elapsed: float) -> None:
    done = min(done, total)
    text = describe(done, total, elapsed)
    assert text.startswith(f"{done}/{total} evaluations (")
    if 0 < done < total:
        left = text.split("about ")[1].removesuffix(" left")
        value, unit = left.split()
        seconds = float(value) * (60 if unit == "min" else 1)
        expected = elapsed / done * (total - done)
        assert abs(seconds - expected) <= 0.05 * expected + 0.05 + (3 if unit == "min" else 0)
    else:
        assert "left" not in text
