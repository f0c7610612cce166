"""``check_determinism``: rerun a cell, find the first divergence, confirm its cause.

Order of events:

1. snapshot the namespace (refusing up front if it does not fit);
2. run 0: the plain run, exactly what the user would have run, digesting the
   tracked state after every step; its end state is snapshotted too;
3. reruns from the snapshot, each with fresh allocations poisoned with its own
   byte and the random generators started from their own seed;
4. if a rerun differs: controlled experiments to confirm the cause
   (:mod:`causes`), line tracing of the first divergent step (:mod:`localise`);
5. optionally the numpy reference run (:mod:`compare`);
6. the namespace is put back to run 0's end state — also after an error in
   nbgrad or a ``KeyboardInterrupt`` (the snapshot, if run 0 did not finish).  Large
   arrays run 0 changed in place are kept by fingerprint, not copied: when a later
   run overwrote them, run 0 is replayed (:func:`_put_back`).
"""

from __future__ import annotations

import dataclasses
import linecache
import os
import time
import types
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from nbgrad.backend import is_cupy_array
from nbgrad.determinism import summary
from nbgrad.determinism.causes import confirm_unwritten, diagnose, name_generators
from nbgrad.determinism.chaos import chaos_probe
from nbgrad.determinism.compare import compare_with_numpy
from nbgrad.determinism.digest import host_digest
from nbgrad.determinism.localise import localise
from nbgrad.determinism.poison import OBSERVED_POISONS
from nbgrad.determinism.runner import CellRunner, RunConfig, RunRecord
from nbgrad.determinism.steps import PreparedCell, cell_label, prepare_callable, prepare_source
from nbgrad.determinism.trace import stored_globals
from nbgrad.errors import SnapshotError, UsageError
from nbgrad.namespace.paths import Path, format_path, parse_path, resolve
from nbgrad.namespace.sideeffects import SideEffects
from nbgrad.namespace.snapshot import Snapshot
from nbgrad.namespace.usercode import register_source, user_traceback
from nbgrad.report.determinism import DeterminismReport

#: Poison byte of rerun k (cycled); run 0 is never poisoned.  A byte that whole fresh
#: allocations of run 0 already held (numpy recycles the buffers of an earlier check's
#: poisoned reruns) is skipped: a rerun poisoned with it would agree with run 0 by
#: construction.
RERUN_POISONS = OBSERVED_POISONS
RERUN_SEED = 1_000_003


def check_determinism(
    code_or_callable: str | Callable[[], Any],
    namespace: dict[str, Any] | None = None,
    *,
    runs: int = 2,
    track: Iterable[str] | None = None,
    poison: bool = True,
    compare_numpy: bool = False,
    max_snapshot_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    label: str | None = None,
    filename: str | None = None,
) -> DeterminismReport:
    """Run a cell ``runs`` times from the same state and report the first divergence.

    Run 0 is a plain run: afterwards ``namespace`` holds exactly what one plain
    run leaves.  Raises :class:`~nbgrad.errors.UsageError` for bad arguments and
    :class:`~nbgrad.errors.SnapshotError` when the state does not fit in memory.
    """
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 2:
        raise UsageError(f"runs must be an integer >= 2 (run 0 plus reruns), got {runs!r}")
    if namespace is not None and not isinstance(namespace, dict):
        raise UsageError(f"namespace must be a dict, got {type(namespace).__name__}")
    tracked = None if track is None else [parse_path(name) for name in _names(track)]
    check = _Check(code_or_callable, namespace, filename, label, progress)
    return check.execute(runs, tracked, poison, compare_numpy, max_snapshot_bytes)


def _names(track: Iterable[str]) -> list[str]:
    if isinstance(track, str):
        track = track.split(",")
    names = [name.strip() for name in track if name.strip()]
    if not names:
        raise UsageError("track names nothing: give names such as 'loss' or 'NN.AB'")
    return names


def _prepare(code: Any, filename: str | None) -> PreparedCell:
    if isinstance(code, str):
        name = filename or f"<nbgrad-cell-{uuid.uuid4().hex[:8]}>"
        if name not in linecache.cache:
            register_source(code, filename=name)
        return prepare_source(code, name)
    if callable(code):
        return prepare_callable(code)
    raise UsageError(f"expected cell source (str) or a zero-argument callable, "
                     f"got {type(code).__name__}")


def _default_label(code: Any) -> str:
    if isinstance(code, str):
        return cell_label(code)
    return getattr(code, "__qualname__", repr(code))


class _Check:
    """State of one check; its methods are the steps listed in the module docstring."""

    def __init__(self, code: Any, namespace: dict[str, Any] | None, filename: str | None,
                 label: str | None, progress: Callable[[int, int], None] | None) -> None:
        self.started = time.perf_counter()
        self.code = code
        self.label = label if label is not None else _default_label(code)
        self.progress = progress or (lambda done, total: None)
        self.filename = filename
        self.namespace_arg = namespace
        self.side_effects: SideEffects | None = None
        #: What the check is doing after run 0, for a truthful interrupt message.
        self.phase = "the reruns"

    def execute(self, runs: int, tracked: list[Path] | None, poison: bool,
                compare_numpy: bool, max_bytes: int | None) -> DeterminismReport:
        try:
            cell = _prepare(self.code, self.filename)
        except SyntaxError as exc:
            return self._error_report(runs=0, tracked=[], exc=exc, backend="numpy")
        namespace = self.namespace_arg
        if namespace is None:
            namespace = cell.globals_ if cell.globals_ is not None else {}
        try:
            before = Snapshot.take(namespace, max_bytes=max_bytes)
        except KeyboardInterrupt as exc:
            raise KeyboardInterrupt(
                "determinism check interrupted while snapshotting the state before the cell; "
                "the cell did not run and the namespace is untouched") from exc
        _refuse_consumed_iterators(cell, namespace)
        if tracked is not None and isinstance(self.code, str):
            _check_tracked(tracked, namespace, cell)
        candidates = tracked or _default_candidates(cell, before, namespace)
        runner = CellRunner(cell, namespace, before, candidates)
        initial = runner.digests() if tracked is None else {}
        self.progress(0, runs)
        start = os.getcwd()
        try:
            run0 = runner.run(RunConfig("run 0", run=0), reset=False, keep=True)
        except KeyboardInterrupt as exc:
            before.restore(namespace)
            os.chdir(start)
            raise KeyboardInterrupt(
                "determinism check interrupted during run 0; the namespace was restored "
                "to the snapshot taken before the cell (as if it had not run)") from exc
        self.progress(1, runs)
        runner.side_effects = self.side_effects = SideEffects("the cell", start, os.getcwd())
        backend = "cupy" if any(is_cupy_array(e.array) for e in before.arrays) else "numpy"
        if tracked is None:
            runner.tracked = _changed(runner.tracked, run0, initial, cell)
            _restrict(run0, runner.tracked)
        if run0.error is not None:
            return self._error_report(runs=1, tracked=_tracked_names(run0, runner.tracked),
                                      record=run0, backend=backend)
        try:
            after = Snapshot.take(namespace, baseline=before, fingerprint=_fingerprint)
        except SnapshotError as exc:
            raise SnapshotError(f"run 0 completed and its results are in the namespace, but no "
                                f"rerun was made: {exc}") from exc
        except KeyboardInterrupt as exc:
            raise KeyboardInterrupt(
                "determinism check interrupted while recording run 0's end state; no rerun "
                "was made and the namespace holds what run 0 left (as after one plain run "
                "of the cell)") from exc
        try:
            report = self._reruns(runner, run0, runs, poison, compare_numpy, backend)
        except KeyboardInterrupt as exc:
            left = _put_back(runner, before, after, run0)
            raise KeyboardInterrupt(
                f"determinism check interrupted during {self.phase}; the namespace was {left}"
            ) from exc
        except BaseException:
            _put_back(runner, before, after, run0)
            raise
        left = _put_back(runner, before, after, run0)
        if left != _RUN0_LEFT:
            warnings.warn(f"after the determinism check of {self.label!r} the namespace was "
                          f"{left}", RuntimeWarning, stacklevel=3)  # the label: shown per cell
        return report

    def _reruns(self, runner: CellRunner, run0: RunRecord, runs: int, poison: bool,
                compare_numpy: bool, backend: str) -> DeterminismReport:
        reruns = []
        poisons = [p for p in RERUN_POISONS if p not in run0.registry.leftovers] or \
            list(RERUN_POISONS)
        for k in range(1, runs):
            config = RunConfig(f"rerun {k}", poisons[(k - 1) % len(poisons)] if poison else None,
                               RERUN_SEED * k, run=k)
            reruns.append(runner.run(config, reference=run0))
            self.progress(k + 1, runs)
        diverging = [(r.first_difference(run0), k) for k, r in enumerate(reruns, 1)]
        diverging = [(step, k) for step, k in diverging if step is not None]
        if diverging and min(diverging)[0] == len(run0.steps) and run0.sampled:
            self.phase = "the reruns with every byte digested"
            diverging = _located_by_full_digests(runner, reruns[min(diverging)[1] - 1],
                                                 min(diverging))
        confirmed = _confirm_forgiven(runner, reruns, diverging, poison)
        if confirmed is not None and confirmed["first_step"] is not None:
            diverging.append((confirmed["first_step"], 1))
        worst = reruns[min(diverging)[1] - 1] if diverging else reruns[0]
        read_poison = _read_poison(worst, confirmed)
        report: dict[str, Any] = {
            "runs": runs, "steps": len(run0.steps), "backend": backend,
            "tracked": _tracked_names(run0, runner.tracked),
            "per_step": summary.per_step(run0, worst, read_poison),
            "comparison": None,
            "error": summary.error_entry(worst, under_poison=poison) if worst.error else None,
        }
        if diverging:
            step, k = min(diverging)
            self.phase = "the experiments that confirm the cause"
            verdict = diagnose(runner, step, poison)
            self.phase = "localisation (tracing the divergent step)"
            location = localise(runner, verdict.pair, step)
            source = location.site.source if location.site else None
            generators = name_generators(verdict, source, runner.snapshot.named_generators())
            found = summary.Divergence(step, worst, verdict, location, generators, backend,
                                       summary.cell_source(runner.cell.filename))
            self.phase = "the 1-ULP chaos probe"
            found.chaos = chaos_probe(runner, verdict.pair[0], step, location, worst)
            report["first_divergence"] = summary.divergence_entry(found, run0)
            report["experiments"] = [
                {"name": f"run 0 vs rerun {k}",
                 "poison": f"none vs {worst.config.describe_poison()}",
                 "rng": f"as run 0 vs {worst.config.describe_rng()}",
                 "outcome": "raised" if worst.error else "differ", "first_step": step,
                 "detail": f"first differ at step {step}"},
                *verdict.experiments()]
        else:
            report["first_divergence"] = None
            report["experiments"] = [{
                "name": f"run 0 vs {len(reruns)} rerun(s)",
                "poison": "none vs " + ", ".join(r.config.describe_poison() for r in reruns),
                "rng": "as run 0 vs " + ", ".join(r.config.describe_rng() for r in reruns),
                "outcome": "identical", "first_step": None,
                "detail": f"bit-identical at all {len(run0.steps)} step(s)"}]
        if confirmed is not None:
            report["experiments"].insert(1, confirmed)
        if run0.threads or run0.processes:
            report["concurrency"] = _concurrency(run0)
        if compare_numpy:
            self.phase = "the numpy comparison run"
            report["comparison"], _ = compare_with_numpy(runner, run0)
        return self._finish(report)

    def _error_report(self, runs: int, tracked: list[str], backend: str,
                      record: RunRecord | None = None,
                      exc: BaseException | None = None) -> DeterminismReport:
        if record is not None:
            error = summary.error_entry(record, under_poison=False)
        else:
            error = {"run": 0, "type": type(exc).__name__, "message": str(exc),
                     "traceback": user_traceback(exc), "under_poison": False}
        return self._finish({
            "runs": runs, "steps": len(record.steps) if record else 0, "backend": backend,
            "tracked": tracked, "first_divergence": None,
            "per_step": [], "experiments": [], "error": error, "comparison": None,
            "restored": "run0" if record is not None else "snapshot",
        }, status="error", exception=record.exception if record is not None else exc)

    def _finish(self, fields: dict[str, Any], status: str | None = None,
                exception: BaseException | None = None) -> DeterminismReport:
        effects = self.side_effects.findings("during the reruns") if self.side_effects else []
        if effects:
            fields["side_effects"] = effects
        return summary.build(fields, label=self.label, status=status, exception=exception,
                             elapsed_s=time.perf_counter() - self.started)


#: Host arrays from this size on that run 0 changed in place are fingerprinted, not copied,
#: in run 0's end snapshot: a second copy of a large state would double the check's memory.
FINGERPRINT_ABOVE_BYTES = 4 * 2**20
#: Replay byte: every fresh allocation of the replay of run 0 is zeroed, so no rerun's
#: poison that numpy recycles can reach the state left to the user.
REPLAY_FILL = 0x00
_RUN0_LEFT = "restored to the state after run 0 (as after one plain run of the cell)"


def _fingerprint(array: Any) -> bytes | None:
    """Digest of a large host array's bytes (kept instead of a copy), else None (copied)."""
    if is_cupy_array(array) or array.nbytes < FINGERPRINT_ABOVE_BYTES:
        return None
    return host_digest(array)


def _put_back(runner: CellRunner, before: Snapshot, after: Snapshot, run0: RunRecord) -> str:
    """Leave the namespace as run 0 left it; returns what it holds, in words.

    Run 0's end snapshot keeps large arrays changed in place by fingerprint only.
    When every rerun agreed with run 0 they hold run 0's bytes again and nothing
    is copied; when a later run (a diverging rerun, an experiment, an interrupt)
    left other bytes, run 0 is replayed from the first snapshot, unpoisoned and
    with its generators as run 0, every fresh allocation zeroed, silenced.
    """
    if not after.overwritten():
        after.restore(runner.namespace)
        return _RUN0_LEFT
    try:
        replay = runner.run(RunConfig("replay of run 0", poison=REPLAY_FILL))
    except KeyboardInterrupt as exc:
        before.restore(runner.namespace)
        raise KeyboardInterrupt(
            "determinism check interrupted while replaying run 0 to put its end state back; "
            "the namespace was restored to the snapshot taken before the cell (as if it had "
            "not run)") from exc
    if replay.error is not None:
        before.restore(runner.namespace)
        return (f"restored to the snapshot taken before the cell (as if it had not run): "
                f"replaying run 0 to put its end state back raised {replay.error.type}: "
                f"{replay.error.message}")
    if after.overwritten() or replay.states[-1:] != run0.states[-1:]:
        return ("left as after one plain run of the cell, a replay of run 0 with every fresh "
                "allocation zeroed; it differs from run 0, as the cell is not deterministic")
    return _RUN0_LEFT


def _confirm_forgiven(runner: CellRunner, reruns: list[RunRecord],
                      diverging: list[tuple[int, int]], poison: bool) -> dict[str, Any] | None:
    """Check, between two poisoned runs, the states that agreed only after masking.

    Returns the experiment when there was something to confirm; its
    ``first_step`` is where a read of never-written memory really happened.
    """
    up_to = min(diverging)[0] if diverging else None
    forgiven = {i for r in reruns for i in r.forgiven if up_to is None or i < up_to}
    if not forgiven or not poison:
        return None
    return confirm_unwritten(runner, None if up_to is None else up_to - 1)


def _default_candidates(cell: PreparedCell, snapshot: Snapshot,
                        namespace: dict[str, Any]) -> list[Path]:
    """Names the cell assigns, every snapshotted array and plain-data value (pruned after run 0).

    Plain data (``losses = []`` from an earlier cell, filled by ``losses.append``)
    is never assigned by the cell, yet it is often the only result that diverges;
    so are globals that the notebook's functions assign (``global last_loss``).
    """
    arrays = {entry.name: entry.path for entry in snapshot.arrays}
    assigned = [*cell.assigned, *sorted(_globals_set_by_functions(namespace))]
    paths = {format_path(p): p for p in (parse_path(n) for n in assigned)
             if not any(a[:len(p)] == p and len(a) > len(p) for a in arrays.values())}
    paths.update(arrays)  # ``params`` is left out when ``params['W1']`` is tracked itself
    paths.update({format_path(p): p for p in snapshot.data_paths})
    return list(paths.values())


def _refuse_consumed_iterators(cell: PreparedCell, namespace: dict[str, Any]) -> None:
    """A generator (or an iterator the loop runs over) from an earlier cell cannot be replayed.

    Run 0 would consume it and the reruns would get other items or none: the
    check would report a divergence with no cause.  Nothing can snapshot a
    generator, so the user is asked to create it inside the cell instead.
    """
    for name in [*cell.iterates, *cell.reads]:
        value = namespace.get(name)
        consumed = isinstance(value, types.GeneratorType) or (
            name in cell.iterates and isinstance(value, Iterator))  # also ``for line in f``
        if consumed and name not in cell.assigned:
            raise UsageError(
                f"`{name}` is a {type(value).__name__} created before the cell: run 0 would "
                f"consume it and the reruns could not replay it (an iterator cannot be "
                f"snapshotted); create it inside the cell, e.g. `{name} = ...` as the cell's "
                f"first line, so that every run starts it afresh")


def _check_tracked(tracked: list[Path], namespace: dict[str, Any], cell: PreparedCell) -> None:
    """A ``--track`` name that neither exists nor is assigned by the cell is a typo.

    Comparing a name that is never there would report "deterministic" for
    nothing.  Only cell source is checked: a callable's assignments are not known.
    """
    assigned = set(cell.assigned) | _globals_set_by_functions(namespace)
    for path in tracked:
        name = format_path(path)
        if name in assigned or path[0][1] in assigned:
            continue
        try:
            resolve(namespace, path)
        except LookupError:
            raise UsageError(
                f"cannot track {name!r}: it is not in the namespace and the cell does not "
                f"assign it; expected an existing name or attribute such as 'loss' or "
                f"'NN.AB'") from None


def _globals_set_by_functions(namespace: dict[str, Any]) -> set[str]:
    """Names that the namespace's functions assign with ``global`` (``global loss``)."""
    return {name for value in namespace.values() if isinstance(value, types.FunctionType)
            for name in stored_globals(value.__code__)}


def _changed(candidates: list[Path], run0: RunRecord, initial: dict[str, bytes],
             cell: PreparedCell) -> list[Path]:
    """Keep assigned names, and candidates whose digest changed during run 0."""
    assigned = set(cell.assigned)
    kept = []
    for path in candidates:
        name = format_path(path)
        states = [run0.end] if name in run0.sampled and run0.end is not None else run0.states
        if name in assigned or any(s.get(name) != initial.get(name) for s in states):
            kept.append(path)
    return kept


def _restrict(record: RunRecord, tracked: list[Path]) -> None:
    names = {format_path(p) for p in tracked}

    def kept(name: str) -> bool:  # ``model.W`` stands for the tracked object ``model``
        return name in names or any(name.startswith(f"{t}.") for t in names)

    record.steps = [{n: d for n, d in step.items() if kept(n)} for step in record.steps]
    if record.end is not None:
        record.end = {n: d for n, d in record.end.items() if kept(n)}


def _tracked_names(record: RunRecord, tracked: list[Path]) -> list[str]:
    """What was compared, as the report lists it: an object's arrays instead of the object."""
    present = dict.fromkeys(n for state in record.states for n in state)
    names: list[str] = []
    for path in tracked:
        name = format_path(path)
        names += [n for n in present if n == name or n.startswith(f"{name}.")]
    return list(dict.fromkeys(names))


def _located_by_full_digests(runner: CellRunner, rerun: RunRecord,
                             found: tuple[int, int]) -> list[tuple[int, int]]:
    """The step a divergence seen only after the cell started at, with every byte digested.

    Run 0 and the reruns digest large arrays through a sample after each step; a
    difference the samples missed shows only in the state after the cell.  A run as
    run 0 (no poison, generators as run 0) and a replay of the rerun, digested whole,
    say where it started; if they agree, the divergence stays where it was seen.
    """
    plain = runner.run(RunConfig("as run 0, every byte digested"))
    replay = runner.run(dataclasses.replace(rerun.config, run=None,
                                            label=f"{rerun.config.label}, every byte digested"))
    step = plain.first_difference(replay)
    if step is None or step >= len(plain.steps):
        return [found]
    return [(step, found[1])]


def _concurrency(run0: RunRecord) -> dict[str, Any]:
    """Threads and processes the plain run started and left running (never waited for)."""
    words = []
    if run0.threads:
        shown = ", ".join(run0.threads[:4]) + (", ..." if len(run0.threads) > 4 else "")
        words.append(f"{len(run0.threads)} thread(s) ({shown})")
    if run0.processes:
        words.append(f"{run0.processes} child process(es)")
    return {"threads": run0.threads, "processes": run0.processes,
            "message": f"the cell started {' and '.join(words)} that were still running when "
                       f"it finished; nbgrad does not wait for them, and every rerun starts "
                       f"its own: results they write later are not compared"}


def _read_poison(rerun: RunRecord, confirmed: dict[str, Any] | None) -> dict[int, list[str]]:
    """Forgiven states from the one where reading never-written memory was confirmed on."""
    if confirmed is None or confirmed["first_step"] is None:
        return {}
    return {i: names for i, names in rerun.forgiven.items() if i >= confirmed["first_step"]}


