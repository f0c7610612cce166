"""Property: on a deterministic cell, the namespace after ``%%determinism`` equals a plain
``exec``'s — bit for bit and in iteration order — for nested state built from lists, dicts,
sets, deques, ``__slots__``, closures, defaults, class attributes and module globals.

Past regressions (issue 13, class 1) are pinned as ``@example``s.  Cells that *mutate* a set
are left out of the property: a set restored in place cannot always be given back its
iteration order (CPython exposes no way to rebuild its hash table slot for slot); that known
limit is the strict xfail below, so it shows when it is lifted.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_determinism_support import cell_namespace

from nbgrad import check_determinism

MODULE = """\
counter = 0
log = []
seen = set()


def bump(x):
    global counter
    counter += 1
    log.append(x)
    seen.add(x % 7)
    return counter
"""

SETUP = """\
import collections
import {module} as mod


class Slot:
    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a = a
        self.b = b


class Counter:
    total = 0
    hist = []


def make_acc():
    acc = []

    def add(v):
        acc.append(v)
        return len(acc)
    return add


def memo(x, cache={{}}):
    cache[x] = cache.get(x, 0) + 1
    return cache[x]


tags = set(range({width}))
for gone in range({removed}):
    tags.discard(gone)
tags.update([100, 200, 300])
state = {{"xs": {xs}, "tags": tags, "queue": collections.deque({xs}), "nested": {{"k": [1, 2]}}}}
slot = Slot({first}, [0])
add = make_acc()
"""

#: What one step of the cell may do to the state.
OPS = (
    "state['xs'].append(i)",
    "state['queue'].rotate(1)",
    "state['queue'].appendleft(i)",
    "state['nested']['k'].insert(0, i)",
    "state[f'k{i}'] = i",
    "state.pop(f'k{i - 1}', None)",
    "slot.a += i",
    "slot.b.append(i)",
    "Counter.total += i",
    "Counter.hist.append(i)",
    "add(i)",
    "memo(i % 3)",
    "mod.bump(i)",
    "order = [t for t in state['tags']]",
)

_modules = itertools.count()


def _load(path: str) -> str:
    """Import the user's module file under a fresh name (each run gets its own globals)."""
    name = f"qa_property_mod_{next(_modules)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return name


def dump(value: Any, depth: int = 0) -> Any:
    """A comparable picture of a value that keeps iteration order (sets included)."""
    if depth > 6:
        return "..."
    if isinstance(value, dict):
        return ("dict", [(k, dump(v, depth + 1)) for k, v in value.items()])
    if isinstance(value, (list, tuple)) or type(value).__name__ == "deque":
        return (type(value).__name__, [dump(v, depth + 1) for v in value])
    if isinstance(value, set):
        return ("set", list(value))
    if type(value).__name__ == "Slot":
        return ("slot", dump(value.a, depth + 1), dump(value.b, depth + 1))
    return value


def picture(ns: dict) -> dict:
    module = sys.modules[ns["mod"].__name__]
    return {
        "names": sorted(n for n in ns if not n.startswith("__")),
        "state": dump(ns["state"]), "slot": dump(ns["slot"]), "order": dump(ns.get("order")),
        "Counter": (ns["Counter"].total, dump(ns["Counter"].hist)),
        "closure": dump(ns["add"].__closure__[0].cell_contents),
        "defaults": dump(ns["memo"].__defaults__),
        "module": (module.counter, dump(module.log), list(module.seen)),
    }


@pytest.fixture(scope="module")
def module_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("property") / "qa_property_mod.py"
    path.write_text(MODULE)
    return str(path)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.sampled_from(OPS), min_size=1, max_size=6),
       steps=st.integers(1, 5), xs=st.lists(st.integers(-5, 50), max_size=5),
       width=st.integers(0, 40), removed=st.integers(0, 40), first=st.integers(-3, 3))
# A mutable default counting calls: each rerun continued from the last (8 became 23).
@example(ops=["memo(i % 3)"], steps=5, xs=[], width=0, removed=0, first=0)
# Class attributes and a user module's globals were not snapshotted.
@example(ops=["Counter.total += i", "mod.bump(i)"], steps=4, xs=[1], width=2, removed=0,
         first=1)
# A set rebuilt from its items changed its iteration order (vocabulary false alarm).
@example(ops=["order = [t for t in state['tags']]", "slot.a += i"], steps=3, xs=[], width=40,
         removed=35, first=0)
# A closure's list and a slotted object's list, both appended to.
@example(ops=["add(i)", "slot.b.append(i)", "state['queue'].rotate(1)"], steps=3, xs=[2, 3],
         width=1, removed=0, first=2)
def test_namespace_after_the_check_equals_one_plain_exec(module_file, ops, steps, xs, width,
                                                        removed, first):
    cell = f"for i in range({steps}):\n" + "".join(f"    {op}\n" for op in ops)
    setup = {"xs": xs, "width": width, "removed": removed, "first": first}
    checked = cell_namespace(SETUP.format(module=_load(module_file), **setup), "prop-checked")
    plain = cell_namespace(SETUP.format(module=_load(module_file), **setup), "prop-plain")
    report = check_determinism(cell, checked, runs=3)
    exec(compile(cell, "<nbgrad-cell-prop-plain>", "exec"), plain)
    assert report.deterministic, report.headline
    assert picture(checked) == picture(plain)


@pytest.mark.xfail(strict=True, reason="a set the cell mutates is restored with its items but "
                   "not always in its iteration order (no API rebuilds a set's table)")
def test_a_set_the_cell_mutates_keeps_its_iteration_order(module_file):
    setup = {"xs": [], "width": 13, "removed": 0, "first": 0}
    cell = "for i in range(2):\n    state['tags'].add(i * 37)\n"
    checked = cell_namespace(SETUP.format(module=_load(module_file), **setup), "prop-set")
    plain = cell_namespace(SETUP.format(module=_load(module_file), **setup), "prop-set-plain")
    check_determinism(cell, checked)
    exec(compile(cell, "<nbgrad-cell-prop-set-plain>", "exec"), plain)
    assert picture(checked)["state"] == picture(plain)["state"]
