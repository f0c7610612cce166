"""From "runs differ at step s" to a cause, confirmed by controlled reruns.

Four short runs (each stops after step ``s``) vary one thing at a time
against a baseline with poison 0x00 and a fixed RNG seed:

* the baseline again — if even that differs, an operation is not
  deterministic (float atomics, non-deterministic cuBLAS/cuDNN algorithms) or
  the cell reads something outside Python (clock, files, network);
* a different poison byte — if that alone changes the result, the cell reads
  memory it never wrote (``empty`` + ``+=``);
* a different RNG seed — if that alone changes it, the cell draws from a
  generator it never seeds.

Each comparison is reported as an experiment, so the verdict can be checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbgrad.determinism.runner import CellRunner, RunConfig, RunRecord

POISON_BASE, POISON_OTHER = 0x00, 0x7F
SEED_BASE, SEED_OTHER = 20_240_601, 19_700_101

#: Calls whose results legitimately change from run to run outside Python's state.
_EXTERNAL_CALLS = re.compile(
    r"\b(time\.|datetime\.|perf_counter|monotonic|open\(|os\.urandom|uuid|secrets\.|"
    r"requests\.|urlopen|input\(|SystemRandom|getpid|listdir|glob\()"
)

UNINITIALIZED = "uninitialized_memory"
UNSEEDED_RNG = "unseeded_rng"
NONDETERMINISTIC_OP = "nondeterministic_op"
EXTERNAL = "external"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Experiment:
    name: str
    poison: str
    rng: str
    outcome: str
    first_step: int | None
    detail: str

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def compare_runs(name: str, a: RunRecord, b: RunRecord, up_to: int | None) -> Experiment:
    """Outcome of two runs: ``identical``, ``differ`` or ``raised`` (only one raised)."""
    poison = (a.config.describe_poison() if a.config.poison == b.config.poison
              else f"{a.config.describe_poison()} vs {b.config.describe_poison()}")
    rng = ("same" if a.config.rng_seed == b.config.rng_seed
           else f"{a.config.describe_rng()} vs {b.config.describe_rng()}")
    if (a.error is None) != (b.error is None) or (
            a.error and b.error and (a.error.type, a.error.step) != (b.error.type, b.error.step)):
        raised = a if a.error else b
        detail = (f"{raised.config.label} raised {raised.error.type}: {raised.error.message} "
                  f"at step {raised.error.step}")
        return Experiment(name, poison, rng, "raised", raised.error.step, detail)
    step = a.first_difference(b)
    if step is None or (up_to is not None and step > up_to):
        return Experiment(name, poison, rng, "identical", None, "bit-identical at every step")
    names = ", ".join(sorted(a.diverged_names(b, step))) or "(control flow)"
    return Experiment(name, poison, rng, "differ", step, f"first differ at step {step} in {names}")


@dataclass
class Verdict:
    cause: str
    confidence: float
    explanation: str
    pair: tuple[RunConfig, RunConfig]
    experiments: list[Experiment]


def confirm_unwritten(runner: CellRunner, up_to: int | None) -> Experiment:
    """Were the elements set aside as never written really never read?

    Run 0 is not poisoned, so against it a poisoned rerun can only skip the
    elements that still hold its poison, and a read that leaves the poison
    intact (NaN + x) hides among them.  Two runs with different poison, both
    masked, tell them apart: 0x00 + x is x, no longer the poison.
    """
    first = runner.run(RunConfig("unwritten check", POISON_BASE, SEED_BASE, up_to))
    second = runner.run(RunConfig("unwritten check", POISON_OTHER, SEED_BASE, up_to))
    experiment = compare_runs("never-written elements", first, second, up_to)
    detail = ("elements run 0 and the rerun disagreed on were never written"
              if experiment.outcome == "identical" else experiment.detail)
    return Experiment(experiment.name, experiment.poison, experiment.rng, experiment.outcome,
                      experiment.first_step, detail)


def _config(label: str, poison: int | None, seed: int, step: int) -> RunConfig:
    return RunConfig(label, poison=poison, rng_seed=seed, stop_after_step=step)


def diagnose(runner: CellRunner, step: int, poison: bool) -> Verdict:
    """Run the controlled experiments up to ``step`` and name the cause."""
    base_poison = POISON_BASE if poison else None
    base = _config("baseline", base_poison, SEED_BASE, step)
    configs = {
        "same poison, same RNG": _config("repeat", base_poison, SEED_BASE, step),
        "different RNG seed": _config("other seed", base_poison, SEED_OTHER, step),
    }
    if poison:
        configs["different poison"] = _config("other poison", POISON_OTHER, SEED_BASE, step)
    baseline = runner.run(base)
    experiments = {name: compare_runs(name, baseline, runner.run(config), step)
                   for name, config in configs.items()}
    verdict = _verdict(base, configs, experiments)
    if not poison and verdict.cause in (NONDETERMINISTIC_OP, UNKNOWN):
        verdict.explanation += ("; poisoning was off (--no-poison / poison=False), so a read "
                                "of uninitialised memory (np.empty + +=) looks like this too: "
                                "rerun with poisoning to tell them apart")
    return verdict


def _verdict(base: RunConfig, configs: dict[str, RunConfig],
             experiments: dict[str, Experiment]) -> Verdict:
    same = experiments["same poison, same RNG"]
    rng = experiments["different RNG seed"]
    memory = experiments.get("different poison")
    listed = list(experiments.values())
    if same.outcome != "identical":
        return Verdict(NONDETERMINISTIC_OP, 0.8,
                       "two runs with identical poison and identical RNG state differ: an "
                       "operation is not deterministic (float atomics such as scatter_add, "
                       "non-deterministic BLAS/cuDNN algorithms, threads), or memory from "
                       "an allocator nbgrad cannot poison is read (np.ndarray(shape), "
                       "ndarray.resize)",
                       (base, configs["same poison, same RNG"]), listed)
    memory_differs = memory is not None and memory.outcome != "identical"
    rng_differs = rng.outcome != "identical"
    if memory_differs and (not rng_differs or memory.first_step <= rng.first_step):
        also = " (a different RNG seed changes it too)" if rng_differs else ""
        how = ("a rerun raised only under poisoning" if memory.outcome == "raised"
               else "runs differ only when the poison byte differs")
        return Verdict(UNINITIALIZED, 0.95,
                       f"{how}: the cell reads memory it never wrote{also}",
                       (base, configs["different poison"]), listed)
    if rng_differs:
        return Verdict(UNSEEDED_RNG, 0.95,
                       "runs differ only when the random generators start from different "
                       "states: the cell draws random numbers without seeding them itself",
                       (base, configs["different RNG seed"]), listed)
    return Verdict(UNKNOWN, 0.3,
                   "the reruns differed from run 0, but no controlled experiment reproduced "
                   "it: something outside the namespace (files, clock, a module's global "
                   "state) changed between runs",
                   (RunConfig("plain"), base), listed)


def refine_with_line(verdict: Verdict, source: str | None) -> Verdict:
    """A repeat that differs at a line reading the clock, files or network is ``external``."""
    if verdict.cause == NONDETERMINISTIC_OP and source and _EXTERNAL_CALLS.search(source):
        verdict.cause = EXTERNAL
        verdict.explanation = (f"two identical runs differ at a line that reads the outside "
                               f"world ({source.strip()}): clock, files or network")
    return verdict


def name_generators(verdict: Verdict, source: str | None, generators: dict[str, object]) -> None:
    """Say which generator an unseeded draw came from, when the divergent line names one.

    ``generators`` maps names of generator objects that existed before the cell
    (``rng = np.random.default_rng(0)`` in an earlier cell) to the objects: a
    cell that draws from such a generator depends on how far earlier cells
    advanced it, which is worth saying in those words.
    """
    if verdict.cause != UNSEEDED_RNG or not source:
        return
    read = set(re.findall(r"[A-Za-z_]\w*", source))
    named = sorted(name for name in generators if name in read)
    if named:
        listed = ", ".join(f"`{n}`" for n in named)
        verdict.explanation += (f"; the line draws from {listed}, created before the cell: its "
                                f"state depends on what earlier cells drew, so seed it (or "
                                f"create it with a seed) inside the cell")
