"""Random number generator states: capture them, put them back, or reseed them.

A cell that draws random numbers without seeding depends on where the global
generators happen to be.  To make reruns start where run 0 started, nbgrad
records every generator state it can reach; to *expose* an unseeded draw, the
reruns deliberately start the global generators from different states.

Generators covered: Python's ``random`` module and ``random.Random``
instances, numpy's legacy global ``RandomState``, numpy ``Generator`` /
``RandomState`` / ``BitGenerator`` objects, and CuPy's global per-device
``RandomState``.  CuPy keeps the cuRAND stream on the device without a way to
read it back, so its state is captured as the generator *object*: restoring
reinstalls that object, and reruns that must not advance it get fresh, seeded
generators instead (see :func:`install_seeded`).
"""

from __future__ import annotations

import functools
import itertools
import random
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbgrad.namespace.patch import patched

#: Objects whose state lives in ``bit_generator.state`` / ``get_state()``.
_NUMPY_GENERATOR_TYPES = (np.random.Generator, np.random.RandomState, np.random.BitGenerator)


def is_generator(obj: Any) -> bool:
    """True for RNG objects whose state :class:`RngStates` can capture."""
    return isinstance(obj, (*_NUMPY_GENERATOR_TYPES, random.Random))


def get_state(gen: Any) -> Any:
    """The state of one generator object, as a value that :func:`set_state` accepts."""
    if isinstance(gen, np.random.Generator):
        return gen.bit_generator.state
    if isinstance(gen, np.random.RandomState):
        return gen.get_state(legacy=False)
    if isinstance(gen, np.random.BitGenerator):
        return gen.state
    return gen.getstate()


def set_state(gen: Any, state: Any) -> None:
    """Put back a state taken with :func:`get_state`."""
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = state
    elif isinstance(gen, np.random.RandomState):
        gen.set_state(state)
    elif isinstance(gen, np.random.BitGenerator):
        gen.state = state
    else:
        gen.setstate(state)


def _cupy_random() -> Any:
    """``cupy.random`` when the user has imported CuPy (never imports it ourselves)."""
    cupy = sys.modules.get("cupy")
    return None if cupy is None else cupy.random


@dataclass
class RngStates:
    """States of the global generators plus the generator objects found in a namespace."""

    python_global: Any
    numpy_global: Any
    cupy_global: Any = None
    objects: dict[int, tuple[Any, Any]] = field(default_factory=dict)

    @classmethod
    def capture(cls, generators: list[Any] = ()) -> RngStates:
        """Record the global states and those of ``generators`` (objects from the namespace)."""
        cupy_random = _cupy_random()
        states = cls(
            python_global=random.getstate(),
            numpy_global=np.random.get_state(legacy=False),
            cupy_global=None if cupy_random is None else cupy_random.get_random_state(),
        )
        for gen in generators:
            states.objects[id(gen)] = (gen, get_state(gen))
        return states

    def restore(self) -> None:
        """Put every recorded state back."""
        random.setstate(self.python_global)
        np.random.set_state(self.numpy_global)
        cupy_random = _cupy_random()
        if cupy_random is not None and self.cupy_global is not None:
            cupy_random.set_random_state(self.cupy_global)
        for gen, state in self.objects.values():
            set_state(gen, state)


def install_seeded(seed: int, generators: list[Any] = ()) -> None:
    """Start every global generator and ``generators`` from states derived from ``seed``.

    Two reruns given the same seed draw the same numbers; reruns given
    different seeds draw different ones, which is how an unseeded draw shows.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    cupy_random = _cupy_random()
    if cupy_random is not None:
        cupy_random.set_random_state(cupy_random.RandomState(seed))
    for offset, gen in enumerate(generators, start=1):
        _reseed(gen, seed * 1_000_003 + offset)


def _reseed(gen: Any, seed: int) -> None:
    """Move one generator object to a state derived from ``seed``, keeping its algorithm."""
    if isinstance(gen, np.random.Generator):
        gen.bit_generator.state = type(gen.bit_generator)(seed).state
    elif isinstance(gen, np.random.RandomState):
        gen.seed(seed % 2**32)
    elif isinstance(gen, np.random.BitGenerator):
        gen.state = type(gen)(seed).state
    else:
        gen.seed(seed)


#: Functions that, called without a seed, take one from the operating system.
_ENTROPY_SEEDED = ((np.random, "default_rng"), (np.random, "seed"), (random, "seed"))


def _derived_seed(original: Any, seed: int, counter: Iterator[int]) -> Any:
    """``original`` with a missing seed replaced by one derived from the run's ``seed``."""

    @functools.wraps(original)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not kwargs and args in ((), (None,)):
            return original((seed * 1_000_003 + 7_919 * next(counter)) % 2**32)
        return original(*args, **kwargs)

    return call


@contextmanager
def seeded_fresh_generators(seed: int, namespace: dict[str, Any]) -> Iterator[None]:
    """Within the block, ``default_rng()``, ``np.random.seed()`` and ``random.seed()``
    without a seed are seeded from ``seed`` instead of the operating system.

    Seeded from the operating system, two runs differ even with identical
    poison and identical RNG states, which would read as a non-deterministic
    operation.  Deriving the seed from the run's seed makes runs with the same
    seed agree and runs with different seeds differ, so the experiments name
    the cause for what it is: an unseeded generator.  Aliases in the namespace
    (``from numpy.random import default_rng``) are patched too.
    """
    counter = itertools.count(1)
    with ExitStack() as stack:
        for module, name in _ENTROPY_SEEDED:
            original = getattr(module, name)
            wrapper = _derived_seed(original, seed, counter)
            stack.enter_context(patched(module, **{name: wrapper}))
            aliases = [key for key, value in namespace.items() if value is original]
            stack.enter_context(patched(namespace, **dict.fromkeys(aliases, wrapper)))
        yield
