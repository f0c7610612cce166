"""From "runs differ at step s" to a cause, proven by replicated experiments.

Every condition is run as a *replica pair* of short runs (each stops after
step ``s``) that differ in one thing only, and each replica uses its own
poison bytes and RNG seeds:

=========================  ==================================================
condition                  the pair
=========================  ==================================================
identical settings         same poison, same RNG start (the control)
other poison               poison byte ``a`` vs ``b``
other RNG start            RNG seed ``s`` vs ``t``
frozen clock and entropy   both runs with the clock and entropy replayed
                           (only run when the control itself differs)
=========================  ==================================================

Replicas are added until the verdict is clear (:data:`MIN_REPLICAS` at
least; stop once the named cause's confidence reaches
:data:`STOP_CONFIDENCE`) or the budget :data:`MAX_REPLICAS` is spent.

A cause is named only when its rule holds: for an intervention (poison, RNG
start), the identical-settings control agreed in *every* replica and the
intervention separated the runs in at least one (which bytes or seeds change
a result depends on their values: NaN and 1e306 both survive ``+= 1``); for
``nondeterministic_op``/``external``, the control differed in some replica (a
race need not strike every run) and the frozen pairs differed too / all
agreed; and only when its confidence reaches :data:`NAME_CONFIDENCE`.  The confidence is computed
from the counts with uniform Beta priors on each condition's rate of
differing: the product over the rule's conditions of the posterior
probability that the condition holds — ``P(rate > ½) = P(Binomial(n + 1, ½)
≤ k)`` for ``k`` of ``n`` (:func:`prob_rate_above_half`), and ``P(rate >
control's rate)`` for an intervention (:func:`prob_rate_exceeds`).  Mixed
counts give ``inconclusive`` with the counts in words.

The causes — how each is detected, its words, its fix and its confidence
rule — are the table :data:`CAUSES`; a new cause is one entry there, its
name in the schema's enum and a fixture.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nbgrad.determinism.frozen import FrozenCalls
from nbgrad.determinism.runner import CellRunner, RunConfig, RunRecord
from nbgrad.namespace.usercode import Site

UNINITIALIZED = "uninitialized_memory"
UNSEEDED_RNG = "unseeded_rng"
NONDETERMINISTIC_OP = "nondeterministic_op"
EXTERNAL = "external"
UNKNOWN = "unknown"
INCONCLUSIVE = "inconclusive"

#: Poison bytes of the replicas' base runs: tiny floats (or zero), which any write such as
#: ``acc += 1.0`` visibly changes.
POISONS_SMALL = (0x00, 0x3C, 0x11, 0x0F, 0x33, 0x22, 0x05, 0x2A)
#: Poison bytes of the "other poison" runs: NaN or huge floats, which absorb ``+= x``.
POISONS_LARGE = (0x7F, 0xFF, 0x5A, 0xC3, 0xA5, 0x96, 0x69, 0xF0)
SEED_BASE, SEED_OTHER = 20_240_601, 19_700_101

MIN_REPLICAS = 3
MAX_REPLICAS = 8
#: Stop adding replicas once a cause is named at least this confidently.
STOP_CONFIDENCE = 0.85
#: A cause whose rule holds is named only from this confidence on (else: inconclusive).
NAME_CONFIDENCE = 0.5
#: A race counts as seen when identical repeats differ in at least this share of runs.
RACE_RATE = 0.2

SAME, POISON, RNG, FROZEN = ("identical settings", "other poison", "other RNG start",
                             "frozen clock and entropy")


def prob_rate_above_half(differed: int, of: int) -> float:
    """Posterior probability (uniform prior) that a condition differs in most runs.

    >>> round(prob_rate_above_half(3, 3), 4)   # 1 - 2**-4
    0.9375
    >>> prob_rate_above_half(0, 0)
    0.5
    """
    trials = of + 1
    return sum(math.comb(trials, i) for i in range(differed + 1)) / 2 ** trials


def prob_rate_below_half(differed: int, of: int) -> float:
    """Posterior probability that a condition differs in fewer than half of the runs."""
    return prob_rate_above_half(of - differed, of)


def prob_rate_above(rate: float, differed: int, of: int) -> float:
    """Posterior probability (uniform prior) that a condition differs in more than ``rate``.

    >>> round(prob_rate_above(0.2, 4, 8), 2)
    0.98
    """
    return 1.0 - _beta_cdf(rate, differed + 1, of - differed + 1)


def _beta_cdf(x: float, a: int, b: int) -> float:
    """Regularised incomplete beta for integer parameters: ``P(Binomial(a+b-1, x) >= a)``."""
    n = a + b - 1
    return sum(math.comb(n, j) * x ** j * (1 - x) ** (n - j) for j in range(a, n + 1))


def prob_rate_exceeds(differed: int, of: int, control_differed: int, control_of: int,
                      points: int = 400) -> float:
    """Posterior probability that an intervention separates runs more often than the control.

    Both rates have uniform priors; ``P(p > q) = ∫ f_p(x) F_q(x) dx`` by the midpoint rule.

    >>> round(prob_rate_exceeds(3, 3, 0, 3), 2)
    0.99
    >>> round(prob_rate_exceeds(0, 3, 0, 3), 2)
    0.5
    """
    a, b = differed + 1, of - differed + 1
    log_norm = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    total = 0.0
    for i in range(points):
        x = (i + 0.5) / points
        density = math.exp(log_norm + (a - 1) * math.log(x) + (b - 1) * math.log1p(-x))
        total += density * _beta_cdf(x, control_differed + 1, control_of - control_differed + 1)
    return total / points


@dataclass
class Condition:
    """One condition's replica pairs: how many differed, of how many, and where."""

    name: str
    poison: list[str] = field(default_factory=list)
    rng: list[str] = field(default_factory=list)
    first_steps: list[int] = field(default_factory=list)
    outcomes: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def of(self) -> int:
        return len(self.outcomes)

    @property
    def differed(self) -> int:
        return sum(outcome != "identical" for outcome in self.outcomes)

    @property
    def unanimous(self) -> bool:
        return self.differed in (0, self.of)

    def words(self) -> str:
        return f"{self.name}: {self.differed} of {self.of} differed"

    def first_step(self) -> int | None:
        return int(statistics.median_low(self.first_steps)) if self.first_steps else None

    def add(self, a: RunRecord, b: RunRecord, up_to: int | None) -> None:
        outcome, step, detail = compare_runs(a, b, up_to)
        self.poison.append(_pair(a.config.describe_poison(), b.config.describe_poison()))
        self.rng.append(_pair(a.config.describe_rng(), b.config.describe_rng()))
        self.outcomes.append(outcome)
        self.details.append(detail)
        if step is not None:
            self.first_steps.append(step)

    def to_experiment(self) -> dict[str, Any]:
        """The report's ``experiments`` entry: the counts, and each replica's settings."""
        steps = f" (first at step {min(self.first_steps)})" if self.first_steps else ""
        return {"name": self.name, "poison": "; ".join(dict.fromkeys(self.poison)),
                "rng": "; ".join(dict.fromkeys(self.rng)),
                "outcome": ("raised" if "raised" in self.outcomes else
                            "differ" if self.differed else "identical"),
                "first_step": min(self.first_steps) if self.first_steps else None,
                "detail": f"{self.differed} of {self.of} replica pairs differed{steps}",
                "differed": self.differed, "replicas": self.of}

    def to_evidence(self) -> dict[str, Any]:
        return {"condition": self.name, "differed": self.differed, "of": self.of,
                "first_steps": list(self.first_steps)}


def _pair(a: str, b: str) -> str:
    return a if a == b else f"{a} vs {b}"


def compare_runs(a: RunRecord, b: RunRecord, up_to: int | None) -> tuple[str, int | None, str]:
    """``identical``, ``differ`` or ``raised`` (only one raised), the step, and words."""
    if (a.error is None) != (b.error is None) or (
            a.error and b.error and (a.error.type, a.error.step) != (b.error.type, b.error.step)):
        raised = a if a.error else b
        return ("raised", raised.error.step,
                f"{raised.config.label} raised {raised.error.type}: {raised.error.message} "
                f"at step {raised.error.step}")
    step = a.first_difference(b)
    if step is None or (up_to is not None and step > up_to):
        return "identical", None, "bit-identical at every step"
    names = ", ".join(sorted(a.diverged_names(b, step))) or "(control flow)"
    return "differ", step, f"first differ at step {step} in {names}"


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class FixContext:
    """What a fix needs to know about the divergence (all from the report's own evidence)."""

    source: str | None
    line: int | None
    function: str | None
    allocation: Site | None
    generators: list[str]
    clock_calls: dict[str, Site | None]
    backend: str
    cell_source: str


@dataclass(frozen=True)
class Cause:
    """One row of the knowledge base: code -> detection, words, fix, confidence rule."""

    code: str
    words: str
    detection: str
    #: Condition name -> ``"differs"`` (every replica differed), ``"agrees"`` (none did),
    #: ``"sometimes"`` (at least one did: a race need not strike every run) or
    #: ``"separates"`` (some did, more often than the identical-settings control: which
    #: poison bytes or seeds change the result depends on their values).
    rule: dict[str, str]
    fix: Callable[[FixContext], dict[str, Any]]

    def confidence(self, conditions: dict[str, Condition]) -> float:
        """Product over the rule's conditions of the posterior probability that it holds.

        ``differs``: P(rate > ½); ``agrees``: P(rate < ½); ``sometimes``: P(rate >
        :data:`RACE_RATE`); ``separates``: P(rate > the control's rate).  Conditions
        not run (no poisoning; no frozen pair because the control agreed) count for
        ``agrees`` and against the others.
        """
        control = conditions.get(SAME)
        value = 1.0
        for name, side in self.rule.items():
            condition = conditions.get(name)
            if condition is None or condition.of == 0:
                if side == "agrees":
                    continue
                return 0.0
            if side == "differs":
                value *= prob_rate_above_half(condition.differed, condition.of)
            elif side == "sometimes":
                value *= prob_rate_above(RACE_RATE, condition.differed, condition.of)
            elif side == "agrees":
                value *= prob_rate_below_half(condition.differed, condition.of)
            else:
                value *= prob_rate_exceeds(condition.differed, condition.of,
                                           control.differed if control else 0,
                                           control.of if control else 0)
        return value

    def holds(self, conditions: dict[str, Condition]) -> bool:
        """The rule's counts: all differed / none differed / at least one separated."""
        for name, side in self.rule.items():
            condition = conditions.get(name)
            if condition is None or condition.of == 0:
                if side == "agrees":
                    continue
                return False
            ok = {"differs": condition.differed == condition.of,
                  "agrees": condition.differed == 0,
                  "sometimes": condition.differed >= 1,
                  "separates": condition.differed >= 1}[side]
            if not ok:
                return False
        return True


def _fix(kind: str, summary: str, *, line: int | None = None, before: str | None = None,
         after: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "summary": summary, "line": line, "before": before, "after": after}


_EMPTY = re.compile(r"\b(empty_like|empty)\s*\(")


def _fix_uninitialized(ctx: FixContext) -> dict[str, Any]:
    site = ctx.allocation
    before = site.source if site is not None else ctx.source
    line = site.line if site is not None else ctx.line
    if before and _EMPTY.search(before):
        after = _EMPTY.sub(lambda m: m.group(1).replace("empty", "zeros") + "(", before)
        where = f" (line {line})" if line is not None else ""
        return _fix("zeros", f"allocate with zeros: `{after}`{where} instead of `{before}`",
                    line=line, before=before, after=after)
    return _fix("zeros", "write every element before reading it: allocate the buffer with "
                "zeros / zeros_like instead of empty / empty_like", line=line, before=before)


_DRAW_MODULE = re.compile(r"\b([A-Za-z_]\w*)\.random\.")


def _fix_unseeded(ctx: FixContext) -> dict[str, Any]:
    source = ctx.source or ""
    if ctx.generators:
        name = ctx.generators[0]
        after = f"{name} = np.random.default_rng(0)"
        summary = (f"create `{name}` with a seed inside the cell: add `{after}` as the cell's "
                   f"first line (its state now depends on what earlier cells drew)")
    elif (found := _DRAW_MODULE.search(source)) is not None:
        after = f"{found.group(1)}.random.seed(0)"
        summary = f"seed the generator the loop draws from: add `{after}` as the cell's first line"
    elif re.search(r"\brandom\.\w+\(", source):
        after = "random.seed(0)"
        summary = f"seed Python's random module: add `{after}` as the cell's first line"
    else:
        after = "np.random.seed(0)"
        summary = (f"seed every generator the loop draws from, e.g. `{after}` (and `random."
                   f"seed(0)`) as the cell's first line, or pass a seeded Generator in")
    return _fix("seed", summary, line=1, before=None, after=after)


def _fix_external(ctx: FixContext) -> dict[str, Any]:
    calls = [call for call in ctx.clock_calls if not call.startswith("time.perf_counter")] or \
        list(ctx.clock_calls)
    if calls:
        call = calls[0]
        site = ctx.clock_calls[call]
        where = f" at line {site.line}" + (f" of `{site.function}`" if site.function else "") \
            if site is not None else ""
        summary = (f"the loop's results depend on `{call}`{where}: pass the value in (read it "
                   f"once in an earlier cell and use that variable), or freeze it for the run")
        return _fix("clock", summary, line=site.line if site else None,
                    before=site.source if site else None)
    return _fix("clock", "the loop reads the clock or the system's entropy: pass the value in, "
                "or freeze it for the run")


#: Non-deterministic operations, found on the divergent line (or in the cell, for threads).
_OP_FIXES: tuple[tuple[str, re.Pattern[str], str, str | None], ...] = (
    ("float_atomics", re.compile(r"scatter_add|\.add\.at\(|\.at\[|atomicAdd|bincount"),
     "float atomics add in whatever order the threads arrive: sort by index and take a "
     "segmented sum (`order = xp.argsort(idx, kind='stable')`, then `xp.add.reduceat` over "
     "the sorted values), or accumulate in integers (fixed point) and convert once",
     None),
    ("cub", re.compile(r"cumsum|cumprod|\bcub\b|\.sum\(|\.mean\(|\.max\(|\.min\("),
     "CuPy's CUB scans/reductions are not deterministic: set `CUPY_ACCELERATORS=` (empty) "
     "before CuPy is imported",
     "import os; os.environ['CUPY_ACCELERATORS'] = ''  # before `import cupy`"),
    ("thread_pool", re.compile(r"as_completed|imap_unordered|ThreadPool|concurrent\.futures|"
                               r"threading|\.result\(\)"),
     "threads finish in a different order each run and float addition is not associative: "
     "sum the results in submission order (`sum(f.result() for f in futures)`) instead of "
     "as they complete",
     None),
    ("cublas_cudnn", re.compile(r"@|matmul|\bdot\(|tensordot|einsum|conv|gemm"),
     "cuBLAS/cuDNN pick algorithms that are not deterministic: set "
     "`CUBLAS_WORKSPACE_CONFIG=:4096:8` before the first cuBLAS call and, for cuDNN "
     "(Chainer's F.convolution_2d), `chainer.config.cudnn_deterministic = True`",
     "import os; os.environ['CUBLAS_WORKSPACE_CONFIG'] = ':4096:8'"),
)


def op_kind(source: str | None, cell_source: str, backend: str) -> str | None:
    """Which non-deterministic operation the divergent line (or the cell) uses, if known."""
    line = source or ""
    for kind, pattern, _, _ in _OP_FIXES:
        if kind in ("cub", "cublas_cudnn") and backend != "cupy":
            continue
        if pattern.search(line) or (kind == "thread_pool" and pattern.search(cell_source)):
            return kind
    return None


def _completion_order_line(ctx: FixContext) -> tuple[int | None, str | None]:
    """The line that takes results in completion order (``as_completed``), if any."""
    if ctx.source and "as_completed(" in ctx.source:
        return ctx.line, ctx.source.strip()
    for number, text in enumerate(ctx.cell_source.splitlines(), 1):
        if "as_completed(" in text:
            return number, text.strip()
    return ctx.line, None


def _fix_nondeterministic(ctx: FixContext) -> dict[str, Any]:
    kind = op_kind(ctx.source, ctx.cell_source, ctx.backend)
    for name, _, summary, after in _OP_FIXES:
        if name == kind:
            line, before = ctx.line, ctx.source
            if name == "thread_pool":
                line, before = _completion_order_line(ctx)
                after = (re.sub(r"as_completed\(([^()]*)\)", r"\1", before)
                         if before else None)
            return _fix(name, summary, line=line, before=before if after else None,
                        after=after)
    where = f" at line {ctx.line}" if ctx.line is not None else ""
    return _fix("operation", f"the operation{where} gives different bits on identical input: "
                "replace it by a deterministic one (fixed summation order, no float atomics, "
                "no threads), or accept differences of this size", line=ctx.line)


def _fix_none(ctx: FixContext) -> dict[str, Any]:
    return _fix("none", "no fix can be named before a cause is confirmed: rerun the check "
                "with more runs (--runs 5), or track fewer names to see where it starts")


CAUSES: dict[str, Cause] = {c.code: c for c in (
    Cause(UNINITIALIZED, "uninitialised memory",
          "runs differ only when the poison written into fresh np.empty/cp.empty "
          "allocations differs (or only a poisoned run raises)",
          {SAME: "agrees", POISON: "separates"}, _fix_uninitialized),
    Cause(UNSEEDED_RNG, "an unseeded random generator",
          "runs differ only when the random generators start from different states",
          {SAME: "agrees", RNG: "separates"}, _fix_unseeded),
    Cause(EXTERNAL, "the clock or the system's entropy",
          "identical runs differ, but runs with the clock and entropy frozen agree",
          {SAME: "sometimes", FROZEN: "agrees"}, _fix_external),
    Cause(NONDETERMINISTIC_OP, "a non-deterministic operation",
          "identical runs differ, also with the clock and entropy frozen",
          {SAME: "sometimes", FROZEN: "sometimes"}, _fix_nondeterministic),
    Cause(UNKNOWN, "an unknown cause",
          "run 0 and a rerun differed, but no replicated experiment reproduced it",
          {SAME: "agrees", POISON: "agrees", RNG: "agrees"}, _fix_none),
    Cause(INCONCLUSIVE, "inconclusive evidence",
          "the replicas disagree: a condition differed in some replicas and not in others",
          {}, _fix_none),
)}


# --------------------------------------------------------------------------- experiments


@dataclass
class Verdict:
    cause: str
    confidence: float
    explanation: str
    pair: tuple[RunConfig, RunConfig]
    conditions: dict[str, Condition]
    replicas: int
    clock_calls: dict[str, Site | None] = field(default_factory=dict)

    @property
    def counts(self) -> str:
        """``identical settings: 0 of 5 differed; other poison: 5 of 5 differed``."""
        return "; ".join(c.words() for c in self.conditions.values() if c.of)

    def experiments(self) -> list[dict[str, Any]]:
        return [c.to_experiment() for c in self.conditions.values() if c.of]

    def evidence(self) -> list[dict[str, Any]]:
        return [c.to_evidence() for c in self.conditions.values() if c.of]


def _config(label: str, poison: int | None, seed: int, step: int,
            frozen: bool = False) -> RunConfig:
    return RunConfig(label, poison=poison, rng_seed=seed, stop_after_step=step, frozen=frozen)


@dataclass
class _Replica:
    """The configurations of replica ``r``: its own poison pair and seed pair."""

    index: int
    poison: bool
    step: int

    @property
    def patterns(self) -> tuple[int | None, int | None]:
        if not self.poison:
            return None, None
        return (POISONS_SMALL[self.index % len(POISONS_SMALL)],
                POISONS_LARGE[self.index % len(POISONS_LARGE)])

    @property
    def seeds(self) -> tuple[int, int]:
        return SEED_BASE + 7_919 * self.index, SEED_OTHER + 7_919 * self.index

    def base(self, frozen: bool = False) -> RunConfig:
        return _config(f"replica {self.index + 1}", self.patterns[0], self.seeds[0], self.step,
                       frozen)

    def other_poison(self) -> RunConfig:
        return _config(f"replica {self.index + 1}, other poison", self.patterns[1],
                       self.seeds[0], self.step)

    def other_seed(self) -> RunConfig:
        return _config(f"replica {self.index + 1}, other seed", self.patterns[0],
                       self.seeds[1], self.step)


def diagnose(runner: CellRunner, step: int, poison: bool) -> Verdict:
    """Run replicated experiments up to ``step`` and name the cause (or say why not)."""
    conditions = {SAME: Condition(SAME), RNG: Condition(RNG)}
    if poison:
        conditions[POISON] = Condition(POISON)
    conditions[FROZEN] = Condition(FROZEN)
    clock_calls = FrozenCalls()
    replicas: list[_Replica] = []
    verdict = None
    while len(replicas) < MAX_REPLICAS:
        replica = _Replica(len(replicas), poison, step)
        replicas.append(replica)
        base = runner.run(replica.base())
        conditions[SAME].add(base, runner.run(replica.base()), step)
        conditions[RNG].add(base, runner.run(replica.other_seed()), step)
        if poison:
            conditions[POISON].add(base, runner.run(replica.other_poison()), step)
        if conditions[SAME].differed:  # the control differs: is it the clock or entropy?
            for pending in replicas[conditions[FROZEN].of:]:
                first, second = runner.run(pending.base(True)), runner.run(pending.base(True))
                clock_calls.sites.update({k: v for k, v in first.clock_calls.sites.items()
                                          if k not in clock_calls.sites})
                conditions[FROZEN].add(first, second, step)
        verdict = _verdict(conditions, replicas, poison)
        if len(replicas) >= MIN_REPLICAS and verdict.cause not in (INCONCLUSIVE,) and \
                verdict.confidence >= STOP_CONFIDENCE:
            break
    assert verdict is not None
    verdict.clock_calls = dict(clock_calls.sites)
    if not poison and verdict.cause in (NONDETERMINISTIC_OP, UNKNOWN, INCONCLUSIVE):
        verdict.explanation += ("; poisoning was off (--no-poison / poison=False), so a read "
                                "of uninitialised memory (np.empty + +=) looks like this too: "
                                "rerun with poisoning to tell them apart")
    return verdict


def _verdict(conditions: dict[str, Condition], replicas: list[_Replica],
             poison: bool) -> Verdict:
    """Apply the table's rules to the counts so far."""
    first = replicas[0]
    used = {name: c for name, c in conditions.items() if c.of}
    pairs = {UNINITIALIZED: (first.base(), first.other_poison()),
             UNSEEDED_RNG: (first.base(), first.other_seed()),
             EXTERNAL: (first.base(), first.base()),
             NONDETERMINISTIC_OP: (first.base(True), first.base(True)),
             UNKNOWN: (RunConfig("plain"), first.base()),
             INCONCLUSIVE: (first.base(), first.base())}
    holding = [code for code, cause in CAUSES.items()
               if cause.holds(used) and cause.confidence(used) >= NAME_CONFIDENCE]
    also = ""
    if UNINITIALIZED in holding and UNSEEDED_RNG in holding:  # both: the earlier one first
        poison_first = used[POISON].first_step() <= used[RNG].first_step()
        later, condition = (UNSEEDED_RNG, RNG) if poison_first else (UNINITIALIZED, POISON)
        holding.remove(later)
        also = f" ({used[condition].words()} as well)"
    counts = "; ".join(c.words() for c in used.values())
    if holding:
        code = holding[0]
        cause = CAUSES[code]
        explanation = f"{_reason(code, used)}{also} — {counts}"
        return Verdict(code, cause.confidence(used), explanation, pairs[code], conditions,
                       len(replicas))
    best = max((c for c in CAUSES.values() if c.rule), key=lambda c: c.confidence(used))
    mixed = [c for c in used.values() if not c.unanimous]
    why = (f"{mixed[0].words()} — " if mixed else "") + _mixed_reason(used)
    return Verdict(INCONCLUSIVE, 1.0 - best.confidence(used), f"inconclusive: {why} — {counts}",
                   pairs[INCONCLUSIVE], conditions, len(replicas))


def _reason(code: str, used: dict[str, Condition]) -> str:
    if code == UNINITIALIZED:
        raised = "raised" in used[POISON].outcomes
        how = ("a run raised only under poisoning with one byte and not the other" if raised
               else "runs differ only when the poison byte differs")
        return f"{how}: the cell reads memory it never wrote"
    if code == UNSEEDED_RNG:
        return ("runs differ only when the random generators start from different states: "
                "the cell draws random numbers without seeding them itself")
    if code == EXTERNAL:
        return ("identical runs differ, but runs with the clock and entropy frozen agree: the "
                "cell reads the time or the system's entropy")
    if code == NONDETERMINISTIC_OP:
        return ("runs with identical poison, RNG states, clock and entropy differ: an operation "
                "is not deterministic (float atomics, threads, CUB, cuBLAS/cuDNN algorithms), "
                "or memory nbgrad cannot poison (np.ndarray(shape), ndarray.resize) is read")
    return ("run 0 and a rerun differed, but no replicated experiment reproduced it: a rare "
            "race, or state outside the namespace that changed between runs (files, a "
            "library's caches)")


def _mixed_reason(used: dict[str, Condition]) -> str:
    same = used.get(SAME)
    if same is not None and 0 < same.differed < same.of:
        return "identical repeats sometimes differ — a race or an unpoisonable read"
    frozen = used.get(FROZEN)
    if frozen is not None and 0 < frozen.differed < frozen.of:
        return "freezing the clock and entropy made only some pairs agree"
    return "the interventions separated the runs in some replicas only"


def confirm_unwritten(runner: CellRunner, up_to: int | None) -> dict[str, Any]:
    """Were the elements set aside as never written really never read?

    Run 0 is not poisoned, so against it a poisoned rerun can only skip the
    elements that still hold its poison, and a read that leaves the poison
    intact (NaN + x) hides among them.  Two runs with different poison, both
    masked, tell them apart: 0x00 + x is x, no longer the poison.
    """
    first = runner.run(RunConfig("unwritten check", POISONS_SMALL[0], SEED_BASE, up_to))
    second = runner.run(RunConfig("unwritten check", POISONS_LARGE[0], SEED_BASE, up_to))
    outcome, step, detail = compare_runs(first, second, up_to)
    if outcome == "identical":
        detail = "elements run 0 and the rerun disagreed on were never written"
    return {"name": "never-written elements",
            "poison": f"{first.config.describe_poison()} vs {second.config.describe_poison()}",
            "rng": "same", "outcome": outcome, "first_step": step, "detail": detail}


def name_generators(verdict: Verdict, source: str | None,
                    generators: dict[str, object]) -> list[str]:
    """Generators created before the cell that the divergent line draws from.

    A cell that draws from such a generator (``rng = np.random.default_rng(0)``
    in an earlier cell) depends on how far earlier cells advanced it, which is
    worth saying in those words.
    """
    if verdict.cause != UNSEEDED_RNG or not source:
        return []
    read = set(re.findall(r"[A-Za-z_]\w*", source))
    named = sorted(name for name in generators if name in read)
    if named:
        listed = ", ".join(f"`{n}`" for n in named)
        verdict.explanation += (f"; the line draws from {listed}, created before the cell: its "
                                f"state depends on what earlier cells drew, so seed it (or "
                                f"create it with a seed) inside the cell")
    return named
