"""Names for state reachable from a namespace: ``loss``, ``NN.AB``, ``params[0]``, ``d['w']``.

A path is a tuple of steps from a top-level name; the same tuple both
*names* an array in a report and *finds it again* in the namespace after the
cell has rebound things, which is how per-step digests follow ``NN.AB`` even
when every step assigns a new array to it.
"""

from __future__ import annotations

import re
from typing import Any

from nbgrad.errors import UsageError

#: One step: ("name", str) for the top level, ("attr", str), ("item", int | str),
#: ("free", str) for a closure variable (formatted ``fn.<v>``; reports only, not parsed).
Step = tuple[str, Any]
Path = tuple[Step, ...]

_TOKEN = re.compile(r"\.([A-Za-z_]\w*)|\[(-?\d+)\]|\[(['\"])(.*?)\3\]")
_ROOT = re.compile(r"[A-Za-z_]\w*")


def format_path(path: Path) -> str:
    """``(("name", "NN"), ("attr", "AB"))`` -> ``"NN.AB"``."""
    parts = []
    for kind, key in path:
        if kind == "name":
            parts.append(key)
        elif kind == "attr":
            parts.append(f".{key}")
        elif kind == "free":  # a closure variable of a function: ``make_sgd``'s ``v``
            parts.append(f".<{key}>")
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)


def parse_path(text: str) -> Path:
    """Inverse of :func:`format_path`; a malformed name raises :class:`UsageError`."""
    root = _ROOT.match(text)
    if root is None:
        raise UsageError(f"cannot track {text!r}: expected a name such as 'loss' or 'NN.AB'")
    steps: list[Step] = [("name", root.group())]
    position = root.end()
    while position < len(text):
        token = _TOKEN.match(text, position)
        if token is None:
            raise UsageError(
                f"cannot track {text!r}: expected '.attr', '[index]' or "
                f"\"['key']\" after {text[:position]!r}"
            )
        attr, index, _, key = token.groups()
        if attr is not None:
            steps.append(("attr", attr))
        elif index is not None:
            steps.append(("item", int(index)))
        else:
            steps.append(("item", key))
        position = token.end()
    return tuple(steps)


def resolve(namespace: dict[str, Any], path: Path) -> Any:
    """The object at ``path`` now; raises ``LookupError`` when it is not there (any more)."""
    obj: Any = namespace
    for kind, key in path:
        try:
            if kind == "free":
                obj = _closure_cell(obj, key).cell_contents
            else:
                obj = getattr(obj, key) if kind == "attr" else obj[key]
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
            raise LookupError(format_path(path)) from exc
    return obj


def _closure_cell(function: Any, name: str) -> Any:
    """The cell holding closure variable ``name`` of ``function`` (ValueError if none)."""
    return function.__closure__[function.__code__.co_freevars.index(name)]


def assign(namespace: dict[str, Any], path: Path, value: Any) -> None:
    """Bind ``value`` at ``path`` (the inverse of :func:`resolve`); tuples cannot be assigned."""
    parent = resolve(namespace, path[:-1]) if len(path) > 1 else namespace
    kind, key = path[-1]
    if kind == "free":
        _closure_cell(parent, key).cell_contents = value
    elif kind == "attr":
        setattr(parent, key, value)
    else:
        parent[key] = value
