"""One run of the cell under a chosen configuration, with a digest after every step.

The runner is the only place that executes user code.  A configuration says
whether fresh allocations are poisoned (and with which byte), where the
random generators start, whether to stop early after a given step, and
whether to trace a step line by line.  The state is reset from the snapshot
before every run except the plain run 0.
"""

from __future__ import annotations

import array
import builtins
import copy
import io
import multiprocessing
import sys
import threading
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import (
    AbstractContextManager,
    contextmanager,
    nullcontext,
    redirect_stderr,
    redirect_stdout,
)
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nbgrad.backend import array_module, is_array
from nbgrad.determinism.difference import Difference, difference
from nbgrad.determinism.digest import Digest, SequenceCache, digest_all
from nbgrad.determinism.frozen import FrozenCalls, frozen_clock
from nbgrad.determinism.poison import AllocationRegistry, observed, poisoned
from nbgrad.determinism.steps import STEP_HOOK, PreparedCell
from nbgrad.determinism.trace import StepTracer, StopRun, masked_unwritten, written_agree
from nbgrad.namespace.patch import patched
from nbgrad.namespace.paths import Path, format_path, resolve
from nbgrad.namespace.rng import install_seeded, seeded_fresh_generators
from nbgrad.namespace.sideeffects import SideEffects
from nbgrad.namespace.snapshot import Snapshot, is_trackable, object_leaves
from nbgrad.namespace.usercode import user_traceback

_MISSING_DIGEST = b"<missing>"
#: Containers whose kept per-step value must be a copy (the loop goes on mutating them).
_MUTABLE = (list, dict, deque, array.array)

#: Per-step copies kept so the size of a difference can be reported.
KEEP_VALUE_BYTES = 4 * 2**20
KEEP_TOTAL_BYTES = 256 * 2**20
#: ... and at most this share of the snapshot's size (at least KEEP_MIN_BYTES): memory
#: must not grow with the number of steps (a 10 MB loop of 40 steps kept 28x its state).
KEEP_STATE_SHARE = 0.25
KEEP_MIN_BYTES = 8 * 2**20
#: Host arrays above this size are digested through a sample after each step (run 0 and
#: the reruns only).
SAMPLE_ABOVE_BYTES = 32 * 2**20
SAMPLE_BLOCKS, SAMPLE_BLOCK = 256, 512


@dataclass(frozen=True)
class RunConfig:
    """How one run is made.  ``poison=None``: plain allocations; ``rng_seed=None``: as run 0."""

    label: str
    poison: int | None = None
    rng_seed: int | None = None
    stop_after_step: int | None = None
    trace_step: int | None = None
    run: int | None = None  # 0 for the plain run, k for rerun k; None for experiments
    #: Clock and entropy replay the same values (:mod:`nbgrad.determinism.frozen`).
    frozen: bool = False
    #: An array whose first element is moved by one ULP before the run (the chaos probe).
    nudge: Path | None = None

    @property
    def plain(self) -> bool:
        return self.run == 0

    def describe_poison(self) -> str:
        return "none" if self.poison is None else f"0x{self.poison:02X}"

    def describe_rng(self) -> str:
        return "as run 0" if self.rng_seed is None else f"seed {self.rng_seed}"


@dataclass
class RunError:
    type: str
    message: str
    traceback: str
    step: int


@dataclass
class RunRecord:
    config: RunConfig
    steps: list[dict[str, Digest]] = field(default_factory=list)
    end: dict[str, Digest] | None = None
    kept: list[dict[str, Any]] = field(default_factory=list)
    diffs: list[dict[str, Difference | None]] = field(default_factory=list)
    error: RunError | None = None
    exception: BaseException | None = None
    registry: AllocationRegistry = field(default_factory=AllocationRegistry)
    tracer: StepTracer | None = None
    #: States that agreed with the reference only once never-written poison was set
    #: aside, with the names concerned.
    forgiven: dict[int, list[str]] = field(default_factory=dict)
    #: Clock and entropy calls the user's code made (frozen runs only).
    clock_calls: FrozenCalls = field(default_factory=FrozenCalls)
    #: Names whose step digests covered only a sample of a large array (:func:`sampled`).
    sampled: set[str] = field(default_factory=set)
    #: Threads the run started and left running (names), and child processes left alive.
    threads: list[str] = field(default_factory=list)
    processes: int = 0

    @property
    def states(self) -> list[dict[str, Digest]]:
        """Digests after every step, then after the code that follows the loop (if any ran)."""
        return self.steps if self.end is None else [*self.steps, self.end]

    def first_difference(self, other: RunRecord) -> int | None:
        """First state whose digests differ (or that only one of the runs reached)."""
        mine, theirs = self.states, other.states
        for index in range(max(len(mine), len(theirs))):
            if index >= len(mine) or index >= len(theirs) or mine[index] != theirs[index]:
                return index
        return None

    def state(self, index: int) -> dict[str, Digest]:
        """``states[index]`` without building the list (called once per step: not quadratic)."""
        if index < len(self.steps):
            return self.steps[index]
        return self.end if index == len(self.steps) and self.end is not None else {}

    def diverged_names(self, other: RunRecord, step: int) -> list[str]:
        mine, theirs = self.state(step), other.state(step)
        return [n for n in mine.keys() | theirs.keys() if mine.get(n) != theirs.get(n)]


class CellRunner:
    """Runs a prepared cell against a namespace, digesting ``tracked`` after each step."""

    def __init__(self, cell: PreparedCell, namespace: dict[str, Any], snapshot: Snapshot,
                 tracked: list[Path]) -> None:
        self.cell = cell
        self.namespace = namespace
        self.snapshot = snapshot
        self.tracked = tracked
        #: Set after run 0: every other run starts in run 0's cwd, files it writes are counted.
        self.side_effects: SideEffects | None = None

    @property
    def scope(self) -> dict[str, Any]:
        return self.cell.globals_ if self.cell.globals_ is not None else self.namespace

    def tracked_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        module = self.namespace.get("__name__")
        for path in self.tracked:
            name = format_path(path)
            try:
                value = resolve(self.namespace, path)
            except LookupError:
                values[name] = _MISSING_DIGEST
                continue
            if is_trackable(value):
                values[name] = value
            else:  # ``model = Model()`` in the cell: compare the model's arrays
                values.update(object_leaves(name, value, module))
        return values

    def digests(self) -> dict[str, Digest]:
        """Digests of the tracked values as they are now (before run 0: the starting point)."""
        return _StepHook.digests_of(self.tracked_values())

    def run(self, config: RunConfig, *, reset: bool = True, reference: RunRecord | None = None,
            keep: bool = False, tracer: StepTracer | None = None) -> RunRecord:
        """Run once; user exceptions are recorded, ``KeyboardInterrupt`` propagates."""
        record = RunRecord(config, tracer=tracer)
        if reset:
            self.snapshot.restore(self.namespace)
        if config.rng_seed is not None:
            install_seeded(config.rng_seed, self.snapshot.generators)
        if config.nudge is not None:
            nudge_one_ulp(resolve(self.namespace, config.nudge))
        if tracer is not None:
            tracer.registry = record.registry
        hook = _StepHook(self, record, reference, keep)
        threads_before = set(threading.enumerate())
        children_before = set(multiprocessing.active_children())
        scope = self.scope
        scope[STEP_HOOK] = hook
        poisoning = (observed(scope, record.registry) if config.plain else
                     nullcontext() if config.poison is None else
                     poisoned(config.poison, scope, record.registry, self.cell.filename))
        fresh_rngs = (nullcontext() if config.rng_seed is None else
                      seeded_fresh_generators(config.rng_seed, scope))
        watched = (nullcontext() if config.plain or self.side_effects is None
                   else self.side_effects.run())
        clock = (frozen_clock(scope, config.rng_seed or 0, record.clock_calls, self.cell.filename)
                 if config.frozen else nullcontext())
        try:
            with poisoning, fresh_rngs, clock, _silenced(not config.plain, scope), watched:
                if tracer is not None and config.trace_step == 0:
                    tracer.start(None)
                try:
                    self.cell.run(self.namespace)
                finally:
                    StepTracer.stop()
            hook.end_of_cell()
        except StopRun:
            pass
        except Exception as exc:  # the user's exception, reported rather than raised
            record.exception = exc
            record.error = RunError(type(exc).__name__, str(exc), user_traceback(exc),
                                    len(record.steps))
        finally:
            scope.pop(STEP_HOOK, None)
            record.threads = sorted(t.name for t in set(threading.enumerate()) - threads_before
                                    if t.is_alive())
            record.processes = len(set(multiprocessing.active_children()) - children_before)
        return record


def sampled(array: Any) -> Any:
    """A fixed, evenly spread sample of a large contiguous array: SAMPLE_BLOCKS runs of
    SAMPLE_BLOCK elements (1 MB of float64), the same positions for every run of a size.

    Digesting every byte of a 1 GiB state after every step costs as much as the
    step itself; divergences spread, and the state after the cell is digested whole,
    so a difference the sample misses is still found (then located by full digests).
    """
    flat = array.reshape(-1)
    if flat.size <= SAMPLE_BLOCKS * SAMPLE_BLOCK:
        return array
    starts = np.linspace(0, flat.size - SAMPLE_BLOCK, SAMPLE_BLOCKS).astype(np.int64)
    return flat[(starts[:, None] + np.arange(SAMPLE_BLOCK)).reshape(-1)]


def nudge_one_ulp(array: Any) -> None:
    """Move the first element of a float array to the next representable value, in place."""
    xp = array_module(array)
    flat = array.reshape(-1)
    flat[:1] = xp.nextafter(flat[:1], xp.asarray(xp.inf, dtype=array.dtype))


def _approximate_bytes(value: Any) -> int:
    """What a kept copy of a non-array costs: a list of 10⁵ losses is not 64 bytes.

    Counting every list as small let a long loop keep one growing copy per
    step, quadratic in memory.
    """
    return 64 + 8 * len(value) if hasattr(value, "__len__") else 64


@contextmanager
def _silenced(quiet: bool, namespace: dict[str, Any]) -> Iterator[None]:
    """Reruns print, warn and display nothing: the user sees run 0's output once."""
    if not quiet:
        yield
        return
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()), \
            redirect_stderr(io.StringIO()), _displays_muted(namespace):
        warnings.simplefilter("ignore")
        yield


def _mute(*_args: Any, **_kwargs: Any) -> None:
    """Stands in for the display publisher's methods during a rerun."""


def _displays_muted(namespace: dict[str, Any]) -> AbstractContextManager[Any]:
    """Silence ``display(...)`` and inline plots, which a kernel sends past ``sys.stdout``.

    The shell is found through the ``get_ipython`` that IPython puts in the
    user's namespace (or builtins), so this module never imports IPython;
    outside IPython there is nothing to mute.
    """
    getter = namespace.get("get_ipython") or getattr(builtins, "get_ipython", None)
    shell = getter() if callable(getter) else None
    publisher = getattr(shell, "display_pub", None)
    if publisher is None:
        return nullcontext()
    names = [n for n in ("publish", "clear_output") if hasattr(publisher, n)]
    return patched(publisher, **dict.fromkeys(names, _mute))


class _StepHook:
    """Called by the rewritten cell after every iteration of its outermost loop."""

    def __init__(self, runner: CellRunner, record: RunRecord, reference: RunRecord | None,
                 keep: bool) -> None:
        self.runner = runner
        self.record = record
        self.reference = reference
        self.keep = keep
        self.kept_bytes = 0
        self.keep_budget = min(KEEP_TOTAL_BYTES, max(KEEP_MIN_BYTES, int(
            KEEP_STATE_SHARE * runner.snapshot.nbytes)))
        self.loop_steps = 0
        self.sequences: SequenceCache = {}  # hashed blocks of long lists, for this run

    def __call__(self) -> None:
        self.loop_steps += 1
        self._digest_step()
        config = self.record.config
        step = len(self.record.steps) - 1
        if self.record.tracer is not None and step == config.trace_step:
            self.record.tracer.finish(sys._getframe(1))
        if config.stop_after_step is not None and step >= config.stop_after_step:
            raise StopRun
        if self.record.tracer is not None and config.trace_step == step + 1:
            self.record.tracer.start(sys._getframe(1))

    def end_of_cell(self) -> None:
        """A cell without a loop is one step; otherwise code after the loop is checked too."""
        if self.loop_steps == 0:
            self._digest_step()
            return
        values = self.runner.tracked_values()
        index = len(self.record.steps)
        reference = self.reference
        theirs = reference.end if reference is not None and reference.end is not None and \
            index == len(reference.steps) else {}
        self.record.end = self._state_digests(values, theirs, index)
        if self.keep:
            self.record.kept.append(self._keep(values))

    def _reference_kept(self, index: int) -> dict[str, Any]:
        """Run 0's kept values at ``index`` (the steps, then the end of the cell)."""
        kept = self.reference.kept if self.reference is not None else []
        return kept[index] if index < len(kept) else {}

    @staticmethod
    def digests_of(values: dict[str, Any],
                   cache: SequenceCache | None = None) -> dict[str, Digest]:
        digests = digest_all({n: v for n, v in values.items() if v is not _MISSING_DIGEST},
                             cache)
        digests.update({n: _MISSING_DIGEST for n, v in values.items() if v is _MISSING_DIGEST})
        return digests

    def _digest_step(self) -> None:
        values = self.runner.tracked_values()
        step = len(self.record.steps)
        reference = self.reference
        theirs = reference.steps[step] if reference is not None and \
            step < len(reference.steps) else {}
        digests = self._state_digests(values, theirs, step, sample=self.loop_steps > 0)
        self.record.steps.append(digests)
        if self.keep:
            self.record.kept.append(self._keep(values))
        if self.reference is not None:
            self.record.diffs.append(self._diffs(step, values, digests))

    def _unwritten_masked(self, value: Any) -> Any:
        """A poisoned ``empty`` array with the elements nobody wrote yet zeroed.

        ``out = np.empty(n)`` filled one element per step holds different
        poison in differently poisoned runs until it is full; that is not a
        divergence unless something *reads* the unwritten elements.
        """
        allocation = self.record.registry.find(value) if is_array(value) else None
        return value if allocation is None else masked_unwritten(value, allocation.pattern)

    def _state_digests(self, values: dict[str, Any], theirs: dict[str, Digest],
                       index: int, sample: bool = False) -> dict[str, Digest]:
        """Digests of one state, unwritten poison masked, forgiven against run 0's copy.

        With ``sample``, run 0 and the reruns digest a fixed sample of each large host
        array after a step (:func:`sampled`); the state after the cell is always
        digested whole, and experiments and tracing always digest everything.
        """
        prepared = {}
        for name, value in values.items():
            masked = self._unwritten_masked(value)
            if sample and masked is value and self.record.config.run is not None and \
                    isinstance(value, np.ndarray) and value.nbytes > SAMPLE_ABOVE_BYTES and \
                    value.flags.c_contiguous:
                masked = sampled(value)
                self.record.sampled.add(name)
            prepared[name] = masked
        digests = self.digests_of(prepared, self.sequences)
        if self.reference is not None:
            names = self._forgive_unwritten(theirs, self._reference_kept(index), values, digests)
            if names:
                self.record.forgiven[index] = names
        return digests

    def _forgive_unwritten(self, theirs: dict[str, Digest], kept: dict[str, Any],
                           values: dict[str, Any], digests: dict[str, Digest]) -> list[str]:
        """Against run 0 (unpoisoned, so unmaskable): compare the written elements only.

        Run 0's kept copy is compared element by element with this run's
        value, skipping elements that still hold this run's poison; when all
        written elements agree, the state counts as identical for that name.
        An element that *read* the poison can hold it still (NaN + x is the
        same NaN), so a forgiven state must be confirmed between two poisoned
        runs (:func:`~nbgrad.determinism.causes.confirm_unwritten`).
        """
        forgiven = []
        for name, digest in digests.items():
            value = values[name]
            if theirs.get(name, digest) == digest or name not in kept or not is_array(value):
                continue
            allocation = self.record.registry.find(value)
            if allocation is not None and written_agree(kept[name], value, allocation.pattern):
                digests[name] = theirs[name]
                forgiven.append(name)
        return forgiven

    def _keep(self, values: dict[str, Any]) -> dict[str, Any]:
        kept = {}
        for name, value in values.items():
            size = getattr(value, "nbytes", None) or _approximate_bytes(value)
            if size <= KEEP_VALUE_BYTES and self.kept_bytes + size <= self.keep_budget:
                kept[name] = (value.copy() if is_array(value) else
                              copy.copy(value) if isinstance(value, _MUTABLE) else value)
                self.kept_bytes += size
        return kept

    def _diffs(self, step: int, values: dict[str, Any],
               digests: dict[str, Digest]) -> dict[str, Difference | None]:
        reference = self.reference
        theirs = reference.steps[step] if step < len(reference.steps) else {}
        kept = reference.kept[step] if step < len(reference.kept) else {}
        result: dict[str, Difference | None] = {}
        for name, digest in digests.items():
            if theirs.get(name) == digest:
                result[name] = Difference(0.0, 0.0, 0, 0.0)
            elif name in kept:
                result[name] = difference(kept[name], values[name])
            else:
                result[name] = None
        return result
