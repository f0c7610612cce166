"""Patch attributes or namespace entries for the length of a block, then put them back.

Every temporary replacement nbgrad makes — poisoning allocators, seeding
generators that would read the operating system's entropy, muting the
display publisher during reruns, freezing the clock — goes through
:func:`patched`, so there is one place that knows how to undo a patch:

* an attribute the owner had *itself* (in its ``__dict__``, or any attribute
  of a module) gets its old value back;
* an attribute the owner only inherited (``display_pub.publish`` defined on
  the class) is deleted again, so the class's method shows through; one the
  type stores in a slot (``__slots__``, ``function.__defaults__``) is set back;
* a ``dict`` owner (a notebook namespace) keeps what the user's code bound
  there during the block: only entries still holding the replacement are put
  back, and entries that did not exist before are removed.

The idea follows ``line_profiler``'s patch dictionaries and
``unittest.mock.patch.object``; unlike the latter, several names of one owner
are patched and restored together, and nothing is mocked.

>>> import math
>>> with patched(math, pi=3.0):
...     math.pi
3.0
>>> round(math.pi, 5)
3.14159
>>> scope = {"f": len}
>>> with patched(scope, f=abs, g=min):
...     sorted(scope)
['f', 'g']
>>> scope
{'f': <built-in function len>}
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_ABSENT = object()


def _own_value(owner: Any, name: str) -> Any:
    """What ``owner`` holds under ``name`` itself (``_ABSENT`` when it only inherits it)."""
    if isinstance(owner, dict):
        return owner.get(name, _ABSENT)
    own = getattr(owner, "__dict__", None)
    if own is not None and name in own:  # modules, instances, classes
        return own[name]
    if hasattr(getattr(type(owner), name, None), "__set__"):  # slots, function.__defaults__
        return getattr(owner, name, _ABSENT)
    return _ABSENT


@contextmanager
def patched(owner: Any, **replacements: Any) -> Iterator[dict[str, Any]]:
    """Within the block, ``owner.<name>`` (or ``owner[name]`` for a dict) is the replacement.

    Yields the previous values by name (``_ABSENT`` names are left out), so a
    wrapper can call the original.  Restoring happens also on exceptions and
    ``KeyboardInterrupt``.
    """
    previous = {name: _own_value(owner, name) for name in replacements}
    is_dict = isinstance(owner, dict)
    try:
        for name, value in replacements.items():
            if is_dict:
                owner[name] = value
            else:
                setattr(owner, name, value)
        yield {name: value for name, value in previous.items() if value is not _ABSENT}
    finally:
        for name, old in previous.items():
            if is_dict:
                if owner.get(name, _ABSENT) is not replacements[name]:
                    continue  # the user's code rebound it: that binding stands
                if old is _ABSENT:
                    del owner[name]
                else:
                    owner[name] = old
            elif old is _ABSENT:
                if _own_value(owner, name) is not _ABSENT:
                    delattr(owner, name)
            else:
                setattr(owner, name, old)
