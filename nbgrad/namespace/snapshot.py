"""Everything a cell can change, recorded so it can be put back bit for bit.

A determinism check runs the user's cell several times; a fused gradient
update perturbs it in place.  Both must leave the notebook exactly as the
user expects, so :class:`Snapshot` records

* the top-level bindings (which object each name refers to),
* the contents of mutable containers reachable from them (lists, dicts, sets
  and the ``__dict__`` of plain user objects such as seed 001's ``NN``), to a
  bounded depth,
* a copy of every writeable numpy/CuPy array reachable that way (CuPy copies
  stay on their device),
* the random generator states (see :mod:`nbgrad.namespace.rng`),

and :meth:`Snapshot.restore` puts back the same objects (identity, not
equal copies), then the array bytes in place, then the generator states.
"""

from __future__ import annotations

import array
import contextlib
import operator
import re
import sys
import types
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbgrad.backend import array_module, is_array, is_cupy_array
from nbgrad.errors import SnapshotError
from nbgrad.namespace.memory import available_device_memory, available_host_memory, size
from nbgrad.namespace.paths import Path, format_path, parse_path
from nbgrad.namespace.rng import RngStates, is_generator
from nbgrad.namespace.usercode import is_user_module

#: IPython's own bookkeeping names: history, output cache, helpers.
_IPYTHON_NAMES = re.compile(r"_+|_i+|_i\d+|_\d+|_[oid]h|__\w+__|In|Out|get_ipython|exit|quit")

#: How deep containers and object attributes are followed from a top-level name.
MAX_DEPTH = 8

#: Values never descended into: their contents are code, not training state.
_OPAQUE = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType, types.GeneratorType, types.CodeType)


def is_user_name(name: str) -> bool:
    """False for IPython's bookkeeping names, which a snapshot neither records nor removes."""
    return _IPYTHON_NAMES.fullmatch(name) is None


def is_trackable(value: Any) -> bool:
    """Values worth comparing as a whole: arrays, numbers and containers of them.

    Modules and objects are not (their arrays are, see :func:`object_leaves`);
    dicts count: a ``history = {}`` filled by the loop is training state too.
    """
    return is_array(value) or isinstance(value, (float, int, complex, np.generic, list, tuple,
                                                 dict, deque, array.array))


def is_plain_object(obj: Any, namespace_module: str | None) -> bool:
    """True for instances of classes the user wrote (``class NN: ...`` in a cell, or in
    the user's own ``.py`` file next to the notebook: ``from mynet import Net``).

    Library objects (a torch module, a file, a widget) are left alone: their
    ``__dict__`` holds handles nbgrad must not rebind.
    """
    if isinstance(obj, _OPAQUE) or not isinstance(getattr(obj, "__dict__", None), dict):
        return False
    return _is_user_class(type(obj), namespace_module)


def object_leaves(name: str, obj: Any, namespace_module: str | None,
                  depth: int = 0) -> dict[str, Any]:
    """Trackable attributes of a user's object, by path: ``model.W``, ``model.opt.m``.

    An object the cell creates itself (``model = Model()`` in the training
    cell) is in no snapshot; its arrays must still be compared step by step.
    """
    if depth >= MAX_DEPTH:
        return {}
    attributes = dict(vars(obj)) if is_plain_object(obj, namespace_module) else {}
    slots = _SlotView.of(obj, namespace_module)
    attributes.update(slots.save() if slots is not None else {})
    leaves: dict[str, Any] = {}
    for attr, item in attributes.items():
        path = f"{name}.{attr}"
        if is_trackable(item):
            leaves[path] = item
        else:
            leaves.update(object_leaves(path, item, namespace_module, depth + 1))
    return leaves


def _is_user_class(klass: type, namespace_module: str | None) -> bool:
    module = klass.__module__
    return module in {"__main__", "builtins", "types", namespace_module} or is_user_module(module)


@dataclass
class ArrayEntry:
    """One reachable array, the first path it was found under, and its saved bytes.

    An entry of an end snapshot may hold a ``fingerprint`` (a digest of the bytes)
    instead of a copy: see :meth:`Snapshot.take` and :meth:`Snapshot.overwritten`.
    """

    path: Path
    array: Any
    saved: Any = None
    fingerprint: bytes | None = None

    @property
    def name(self) -> str:
        return format_path(self.path)


@dataclass
class _Walk:
    """What one traversal of a namespace found (before anything is copied)."""

    namespace_module: str | None
    arrays: list[ArrayEntry] = field(default_factory=list)
    containers: list[tuple[Any, Any]] = field(default_factory=list)
    generators: list[Any] = field(default_factory=list)
    data: list[Path] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def visit(self, obj: Any, path: Path) -> None:
        if isinstance(obj, _SCALARS):  # the bulk of a long list: nothing to save inside
            if len(path) == 1:
                self.data.append(path)
            return
        if id(obj) in self.seen or len(path) > MAX_DEPTH:
            return
        self.seen.add(id(obj))
        if _is_plain_data(obj) and (len(path) == 1 or
                                    isinstance(obj, (list, dict, deque, array.array))):
            self.data.append(path)
        if is_array(obj):
            if obj.flags.writeable and obj.dtype != object:
                self.arrays.append(ArrayEntry(path, obj))
        elif is_generator(obj):
            self.generators.append(obj)
        elif isinstance(obj, list):
            self.containers.append((obj, list(obj)))
            self._visit_items(enumerate(obj), path)
        elif isinstance(obj, tuple):
            self._visit_items(enumerate(obj), path)
        elif isinstance(obj, dict):
            self.containers.append((obj, dict(obj)))
            for key, item in obj.items():
                if isinstance(key, (str, int)):
                    self.visit(item, (*path, ("item", key)))
        elif isinstance(obj, deque):
            self.containers.append((obj, list(obj)))
            for index, item in enumerate(obj):
                self.visit(item, (*path, ("item", index)))
        elif isinstance(obj, array.array):
            self.containers.append((obj, array.array(obj.typecode, obj)))
        elif isinstance(obj, (set, bytearray)):
            self.containers.append((obj, obj.copy()))
        elif isinstance(obj, types.FunctionType):
            self._visit_function(obj, path)
        elif isinstance(obj, types.MethodType):  # ``step = opt.step``: the optimizer's state
            self.visit(obj.__self__, (*path, ("attr", "__self__")))
            self.visit(obj.__func__, (*path, ("attr", "__func__")))
        elif isinstance(obj, (staticmethod, classmethod)):
            self.visit(obj.__func__, (*path, ("attr", "__func__")))
        elif isinstance(obj, type):
            self._visit_class(obj, path)
        elif isinstance(obj, types.ModuleType):
            self._visit_module(obj, path)
        else:
            self._visit_object(obj, path)

    def _visit_function(self, function: types.FunctionType, path: Path) -> None:
        """What a user's function keeps between calls: closure variables (``opt =
        make_sgd()`` keeps its momentum), mutable defaults (``def adam(g, state={})``)
        and the globals of the user's module it was defined in (``nnutil.velocity``).
        """
        if not _is_user_function(function, self.namespace_module):
            return
        if function.__closure__:
            view = _ClosureView(function)
            saved = view.save()
            self.containers.append((view, saved))
            for name, item in saved.items():
                self.visit(item, (*path, ("free", name)))
        if function.__defaults__:
            self._visit_items(enumerate(function.__defaults__),
                              (*path, ("attr", "__defaults__")))
        if function.__kwdefaults__:
            self.visit(function.__kwdefaults__, (*path, ("attr", "__kwdefaults__")))
        module = sys.modules.get(function.__module__ or "")
        if module is not None and getattr(module, "__dict__", None) is function.__globals__:
            self._visit_module(module, (*path, ("attr", "__globals__")), as_dict=True)

    def _visit_class(self, klass: type, path: Path) -> None:
        """Class attributes of a user's class (``Trainer.global_step += 1``) and its methods."""
        if not _is_user_class(klass, self.namespace_module) or \
                not klass.__flags__ & HEAP_TYPE:  # ``int``, ``range``: not the user's
            return
        view = _ClassView(klass)
        saved = view.save()
        self.containers.append((view, saved))
        for attr, item in saved.items():
            self.visit(item, (*path, ("attr", attr)))

    def _visit_module(self, module: types.ModuleType, path: Path, as_dict: bool = False) -> None:
        """Globals of the user's own modules (files outside the libraries): ``nnutil.n_updates``."""
        name = module.__name__
        if name == "__main__" or not is_user_module(name):
            return
        namespace = module.__dict__
        if as_dict:  # reached as a function's ``__globals__``: the path indexes the dict
            if id(namespace) in self.seen:
                return
            self.seen.add(id(namespace))
        view = _ModuleGlobals(namespace)
        self.containers.append((view, view.save()))
        step = "item" if as_dict else "attr"
        for key, item in list(namespace.items()):
            if not key.startswith("__"):
                self.visit(item, (*path, (step, key)))

    def _visit_items(self, items: Iterable[tuple[int, Any]], path: Path) -> None:
        """Items of a list or tuple; scalars (most of a loss history) are skipped at once."""
        for index, item in items:
            if not isinstance(item, _SCALARS):
                self.visit(item, (*path, ("item", index)))

    def _visit_object(self, obj: Any, path: Path) -> None:
        """Attributes of a user's object: its ``__dict__``, its ``__slots__``, its class's."""
        if is_plain_object(obj, self.namespace_module):
            self.containers.append((obj.__dict__, dict(obj.__dict__)))
            for attr, item in obj.__dict__.items():
                self.visit(item, (*path, ("attr", attr)))
        if _is_user_class(type(obj), self.namespace_module):
            self.visit(type(obj), (*path, ("attr", "__class__")))
        slots = _SlotView.of(obj, self.namespace_module)
        if slots is not None:
            saved = slots.save()
            self.containers.append((slots, saved))
            for attr, item in saved.items():
                self.visit(item, (*path, ("attr", attr)))


def _is_user_function(function: types.FunctionType, namespace_module: str | None) -> bool:
    """Defined in a notebook cell or in one of the user's own module files."""
    module = function.__module__
    return module in {"__main__", namespace_module} or (module is not None
                                                         and is_user_module(module))


class _ClassView:
    """The attributes a user's class defines itself (not dunders), saved and put back."""

    def __init__(self, klass: type) -> None:
        self.klass = klass

    def save(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self.klass).items() if not k.startswith("__")}

    def put_back(self, saved: dict[str, Any]) -> None:
        now = self.save()
        for name in now.keys() - saved.keys():
            delattr(self.klass, name)
        for name, value in saved.items():
            if now.get(name, _MISSING) is not value:
                setattr(self.klass, name, value)


class _ModuleGlobals:
    """A module's globals: only the names that changed are put back (the module keeps
    running other code, so its dict is never cleared and refilled)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace

    def save(self) -> dict[str, Any]:
        return dict(self.namespace)

    def put_back(self, saved: dict[str, Any]) -> None:
        namespace = self.namespace
        for name in [n for n in namespace if n not in saved]:
            del namespace[name]
        for name, value in saved.items():
            if namespace.get(name, _MISSING) is not value:
                namespace[name] = value


class _ClosureView:
    """The closure cells of a function, saved and put back like a dict."""

    def __init__(self, function: types.FunctionType) -> None:
        self.cells = dict(zip(function.__code__.co_freevars, function.__closure__, strict=True))

    def save(self) -> dict[str, Any]:
        saved = {}
        for name, cell in self.cells.items():
            with contextlib.suppress(ValueError):  # an empty cell
                saved[name] = cell.cell_contents
        return saved

    def put_back(self, saved: dict[str, Any]) -> None:
        for name, cell in self.cells.items():
            if name in saved:
                cell.cell_contents = saved[name]


def _slots_of(klass: type) -> list[str]:
    slots = vars(klass).get("__slots__", ())
    return [slots] if isinstance(slots, str) else list(slots)


class _SlotView:
    """The ``__slots__`` attributes of a user's object, saved and put back like a dict."""

    def __init__(self, obj: Any, names: list[str]) -> None:
        self.obj = obj
        self.names = names

    @classmethod
    def of(cls, obj: Any, namespace_module: str | None) -> _SlotView | None:
        if isinstance(obj, _OPAQUE) or not _is_user_class(type(obj), namespace_module):
            return None
        names = [name for klass in type(obj).__mro__ for name in _slots_of(klass)
                 if name not in ("__dict__", "__weakref__")]
        return cls(obj, names) if names else None

    def save(self) -> dict[str, Any]:
        return {n: getattr(self.obj, n) for n in self.names if hasattr(self.obj, n)}

    def put_back(self, saved: dict[str, Any]) -> None:
        for name in self.names:
            if name in saved:
                setattr(self.obj, name, saved[name])
            elif hasattr(self.obj, name):
                delattr(self.obj, name)


#: ``type.__flags__`` bit of classes created by a ``class`` statement (not built into C).
HEAP_TYPE = 1 << 9

_SCALARS = (bool, int, float, complex, str, bytes, type(None), np.generic)


def _is_plain_data(obj: Any, depth: int = 0) -> bool:
    """Numbers, strings, and lists/tuples/dicts of them: ``losses = []``, ``history = {}``.

    Such values hold training results without holding arrays, so no array
    path covers them; a loop that appends to one must still be compared.
    """
    if isinstance(obj, (*_SCALARS, array.array)):
        return True
    if depth >= MAX_DEPTH or not isinstance(obj, (list, tuple, dict, deque)):
        return False
    items = obj.values() if isinstance(obj, dict) else obj
    kinds = set(map(type, items))  # at C speed: a history of 10⁵ floats is one kind
    if all(issubclass(kind, _SCALARS) for kind in kinds):
        return True
    return all(_is_plain_data(item, depth + 1) for item in items
               if not isinstance(item, _SCALARS))


def _same_bytes(array: Any, saved: Any) -> bool:
    """Bit-identical contents (NaNs included), compared where the data lives."""
    if saved is None or array.shape != saved.shape or array.dtype != saved.dtype:
        return False
    xp = array_module(array)
    if not (array.flags.c_contiguous and saved.flags.c_contiguous) or not array.size:
        return bool(array.size == 0 or xp.array_equal(array, saved, equal_nan=True))
    left, right = array.reshape(-1).view(xp.uint8), saved.reshape(-1).view(xp.uint8)
    return all(bool(xp.array_equal(left[i:i + _COMPARE_CHUNK], right[i:i + _COMPARE_CHUNK]))
               for i in range(0, left.size, _COMPARE_CHUNK))  # no state-sized temporary


#: Bytes compared at a time by :func:`_same_bytes`.
_COMPARE_CHUNK = 8 * 2**20


def _outermost(paths: list[Path]) -> list[Path]:
    """Drop paths inside another listed path (``history`` covers ``history['loss']``)."""
    listed = set(paths)
    return [p for p in paths if not any(p[:n] in listed for n in range(1, len(p)))]


def _unchanged(container: Any, saved: Any) -> bool:
    """True when ``container`` still holds exactly ``saved``'s items, in the same order.

    Such a container is left alone: rebuilding it would cost time and could
    change a set's iteration order (a vocabulary from ``set(words)`` would
    then be enumerated differently by the reruns and after the check).
    """
    if isinstance(container, (set, bytearray, array.array)):
        return container == saved
    if len(container) != len(saved):
        return False
    if isinstance(container, dict):
        return all(map(operator.is_, container, saved)) and \
            all(map(operator.is_, container.values(), saved.values()))
    return all(map(operator.is_, container, saved))


def _put_back_contents(container: Any, saved: Any) -> None:
    """Make ``container`` hold ``saved``'s items again, keeping the container object."""
    if isinstance(container, (_SlotView, _ClosureView, _ClassView, _ModuleGlobals)):
        container.put_back(saved)
    elif _unchanged(container, saved):
        return
    elif isinstance(container, dict):
        container.clear()
        container.update(saved)
    elif isinstance(container, (list, bytearray, array.array)):
        container[:] = saved
    elif isinstance(container, deque):
        container.clear()
        container.extend(saved)
    else:  # set
        container.clear()
        container.update(saved)


def _check_fits(arrays: list[ArrayEntry], max_bytes: int | None) -> None:
    """Refuse before copying anything when the copies would not fit."""
    host = sum(e.array.nbytes for e in arrays if not is_cupy_array(e.array))
    device = sum(e.array.nbytes for e in arrays if is_cupy_array(e.array))
    limits: list[tuple[str, int, int | None]] = [("the limit you set", host + device, max_bytes)]
    free = available_host_memory()  # cgroup-aware: a container's limit, not the machine's
    if free is not None:
        limits.append((f"the memory available ({free.source})", host, free.bytes))
    device_arrays = [e.array for e in arrays if is_cupy_array(e.array)]
    if device_arrays:
        limits.append(("free GPU memory", device, available_device_memory(device_arrays[0])))
    for what, needed, available in limits:
        if available is not None and needed > available:
            biggest = sorted(arrays, key=lambda e: e.array.nbytes, reverse=True)[:3]
            names = ", ".join(f"{e.name} ({size(e.array.nbytes)})" for e in biggest)
            raise SnapshotError(
                f"snapshotting the cell's state needs {size(needed)} but {what} is "
                f"{size(available)}; biggest arrays: {names}. Free memory (del arrays the "
                f"cell does not need) or raise the limit (--max-snapshot-mb / "
                f"max_snapshot_bytes=)."
            )


class Snapshot:
    """Recorded state of a namespace; see the module docstring for what is covered."""

    def __init__(self, bindings: dict[str, Any], roots: set[str] | None, walk: _Walk,
                 rng: RngStates | None,
                 fingerprint: Callable[[Any], bytes | None] | None = None) -> None:
        self.bindings = bindings
        self._fingerprint = fingerprint
        self.roots = roots
        self.arrays = walk.arrays
        #: Paths of plain-data values (numbers, lists/dicts without arrays) a cell may change.
        self.data_paths = _outermost(walk.data)
        self.generators = walk.generators
        self._containers = walk.containers
        self.rng = rng
        self.nbytes = sum(entry.saved.nbytes for entry in self.arrays
                          if entry.saved is not None)

    @classmethod
    def take(cls, namespace: dict, names: Iterable[str] | None = None, *,
             include_rng: bool = True, max_bytes: int | None = None,
             baseline: Snapshot | None = None,
             fingerprint: Callable[[Any], bytes | None] | None = None) -> Snapshot:
        """Record ``namespace`` (or only the top-level names that ``names`` start from).

        With ``baseline`` (an earlier snapshot of the same namespace), only arrays
        changed in place since then are copied: an array whose bytes still equal
        the baseline's copy shares that copy (comparing runs at memory bandwidth;
        copying into fresh memory is page-fault bound), and an array created since
        the baseline is not copied at all — nothing that the baseline's state
        reaches can write it.  With ``fingerprint`` too, an array changed in place
        whose fingerprint is not ``None`` is not copied either: its fingerprint is kept,
        and :meth:`overwritten` says later whether it still holds these bytes (a copy
        of a large state costs memory the size of the state).  Raises
        :class:`~nbgrad.errors.SnapshotError`, before copying anything, when the copies
        would exceed ``max_bytes`` or the free memory.
        """
        roots = None if names is None else {parse_path(n)[0][1] for n in names}
        bindings = {
            name: value for name, value in namespace.items()
            if is_user_name(name) and (roots is None or name in roots)
        }
        walk = _Walk(namespace_module=namespace.get("__name__"))
        walk.seen.add(id(namespace))  # `G = globals()`: the bindings are handled on their own
        for name, value in bindings.items():
            walk.visit(value, (("name", name),))
        earlier = {} if baseline is None else {id(e.array): e for e in baseline.arrays}
        to_copy = []
        for entry in walk.arrays:
            prior = earlier.get(id(entry.array))
            if baseline is None or (prior is not None and not _same_bytes(entry.array,
                                                                          prior.saved)):
                to_copy.append(entry)
            elif prior is not None:
                entry.saved = prior.saved
        if fingerprint is not None:
            for entry in to_copy:
                entry.fingerprint = fingerprint(entry.array)
            to_copy = [entry for entry in to_copy if entry.fingerprint is None]
        _check_fits(to_copy, max_bytes)
        for entry in to_copy:
            entry.saved = entry.array.copy()
        rng = RngStates.capture(walk.generators) if include_rng else None
        return cls(bindings, roots, walk, rng, fingerprint)

    def overwritten(self) -> list[ArrayEntry]:
        """Fingerprinted arrays (kept without a copy) that no longer hold their bytes.

        :meth:`restore` cannot put them back; the caller must recompute them.
        """
        return [entry for entry in self.arrays if entry.saved is None and
                entry.fingerprint is not None and self._fingerprint is not None and
                self._fingerprint(entry.array) != entry.fingerprint]

    def restore(self, namespace: dict) -> None:
        """Put back bindings, container contents, array bytes and RNG states."""
        for container, saved in self._containers:
            _put_back_contents(container, saved)
        # Names created since the snapshot go; with ``roots`` only those are candidates,
        # so a restricted snapshot never scans IPython's hundreds of In/Out/_iN names.
        candidates = namespace if self.roots is None else self.roots
        for name in [n for n in candidates
                     if n in namespace and n not in self.bindings and is_user_name(n)]:
            del namespace[name]
        for name, value in self.bindings.items():
            if namespace.get(name, _MISSING) is not value:
                namespace[name] = value
        for entry in self.arrays:
            self.restore_array(entry)
        if self.rng is not None:
            self.rng.restore()

    def named_generators(self) -> dict[str, Any]:
        """Top-level names bound to generator objects when the snapshot was taken."""
        ids = {id(gen) for gen in self.generators}
        return {name: value for name, value in self.bindings.items() if id(value) in ids}

    @staticmethod
    def restore_array(entry: ArrayEntry) -> None:
        """Copy the saved bytes back into the original array object."""
        if entry.saved is not None and entry.array.shape == entry.saved.shape and \
                entry.array.flags.writeable:
            array_module(entry.array).copyto(entry.array, entry.saved, casting="no")


_MISSING = object()
