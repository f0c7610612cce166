"""The intervention behind ``external``: runs that see the same clock and the same entropy.

Two runs with identical poison and identical RNG states can still differ
because the cell reads the outside world: the time (``time.time()``,
``datetime.now()``), or the operating system's entropy (``os.urandom``,
``uuid.uuid4``, ``secrets``, ``random.SystemRandom``).  Within
:func:`frozen_clock` every such call returns values from a replayable
sequence — the clock starts at a fixed instant and advances one microsecond
per call (so ``while time.time() - t0 < 1`` still ends), entropy comes from a
seeded generator — both in the notebook and in the user's own modules
(``from time import time`` aliases included).  If a pair of frozen runs
agrees where unfrozen identical runs differ, the clock or entropy is the
cause, and :attr:`FrozenCalls.sites` says which call was made from which line.
"""

from __future__ import annotations

import datetime
import functools
import os
import random
import secrets
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from nbgrad.namespace.patch import patched
from nbgrad.namespace.usercode import Site, user_modules, user_site

#: 2001-09-09 01:46:40 UTC: the frozen clock's first reading (seconds since the epoch).
FROZEN_EPOCH = 1_000_000_000.0
#: How far the frozen clock moves per reading.
TICK_S = 1e-6

_TIME_FUNCTIONS = ("time", "perf_counter", "monotonic", "process_time")


@dataclass
class FrozenCalls:
    """Clock and entropy calls made from the user's code during a frozen run."""

    sites: dict[str, Site | None] = field(default_factory=dict)

    def note(self, call: str, cell_filename: str | None) -> None:
        if call not in self.sites:
            self.sites[call] = user_site(cell_filename, skip=2)


class _Clock:
    """A replayable clock: a fixed start, one tick per reading."""

    def __init__(self) -> None:
        self.readings = 0

    def seconds(self) -> float:
        self.readings += 1
        return FROZEN_EPOCH + self.readings * TICK_S


def _datetime_class(clock: _Clock, calls: FrozenCalls,
                    cell_filename: str | None) -> tuple[type, type]:
    """``datetime``/``date`` subclasses whose ``now``/``utcnow``/``today`` read ``clock``."""

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            calls.note("datetime.now", cell_filename)
            return cls.fromtimestamp(clock.seconds(), tz)

        @classmethod
        def utcnow(cls) -> Any:
            calls.note("datetime.utcnow", cell_filename)
            moment = cls.fromtimestamp(clock.seconds(), datetime.UTC)
            return moment.replace(tzinfo=None)

        @classmethod
        def today(cls) -> Any:
            calls.note("datetime.today", cell_filename)
            return cls.fromtimestamp(clock.seconds())

    class FrozenDate(datetime.date):
        @classmethod
        def today(cls) -> Any:
            calls.note("date.today", cell_filename)
            return cls.fromtimestamp(clock.seconds())

    FrozenDatetime.__name__ = FrozenDatetime.__qualname__ = "datetime"
    FrozenDate.__name__ = FrozenDate.__qualname__ = "date"
    return FrozenDatetime, FrozenDate


def _replacements(seed: int, calls: FrozenCalls,
                  cell_filename: str | None) -> list[tuple[Any, str, Any]]:
    """(owner, name, replacement) for every clock and entropy source covered."""
    clock = _Clock()
    entropy = random.Random(seed)

    def frozen(call: str, make: Callable[..., Any]) -> Callable[..., Any]:
        def read(*args: Any) -> Any:
            calls.note(call, cell_filename)
            return make(*args)
        return read

    found: list[tuple[Any, str, Any]] = []
    for name in _TIME_FUNCTIONS:
        found.append((time, name, frozen(f"time.{name}", clock.seconds)))
        found.append((time, f"{name}_ns", frozen(f"time.{name}_ns",
                                                 lambda: int(clock.seconds() * 1e9))))
    frozen_datetime, frozen_date = _datetime_class(clock, calls, cell_filename)
    found += [(datetime, "datetime", frozen_datetime), (datetime, "date", frozen_date)]
    found.append((os, "urandom", frozen("os.urandom", entropy.randbytes)))
    found.append((uuid, "uuid4", frozen("uuid.uuid4",
                                        lambda: uuid.UUID(int=entropy.getrandbits(128),
                                                          version=4))))
    system = random.SystemRandom
    for name in ("random", "getrandbits", "randbytes"):
        method = getattr(random.Random, name)
        found.append((system, name, _entropy_method(method, entropy, calls, cell_filename)))
    found.append((secrets, "token_bytes",
                  frozen("secrets.token_bytes", lambda n=32: entropy.randbytes(n))))
    return found


def _entropy_method(method: Callable[..., Any], entropy: random.Random, calls: FrozenCalls,
                    cell_filename: str | None) -> Callable[..., Any]:
    """``SystemRandom.<method>`` drawing from the replayable ``entropy`` instead."""

    @functools.wraps(method)
    def draw(_self: Any, *args: Any) -> Any:
        calls.note("random.SystemRandom", cell_filename)
        return method(entropy, *args)

    return draw


@contextmanager
def frozen_clock(scope: dict[str, Any], seed: int, calls: FrozenCalls,
                 cell_filename: str | None) -> Iterator[None]:
    """Within the block the clock and entropy replay the same values in every run."""
    replacements = _replacements(seed, calls, cell_filename)
    originals = {id(getattr(owner, name)): value for owner, name, value in replacements}
    scopes = [scope, *(m.__dict__ for m in user_modules())]
    with ExitStack() as stack:
        for owner, name, value in replacements:
            stack.enter_context(patched(owner, **{name: value}))
        for namespace in scopes:  # ``from time import time``, ``from datetime import datetime``
            aliases = {key: originals[id(item)] for key, item in list(namespace.items())
                       if id(item) in originals and not key.startswith("__")}
            if aliases:
                stack.enter_context(patched(namespace, **aliases))
        yield
