"""The 1-ULP chaos probe: how far does rounding alone spread in this loop?

A training loop amplifies tiny differences; some (an RNN near the edge of
stability) turn one ULP into visible noise within a few steps.  To say
whether an observed divergence is "a bug" or "the loop's own chaos", the
probe reruns the loop twice under identical settings, the second time with
the first element of the largest float array moved by one ULP
(``np.nextafter``), and measures the largest difference per step.  The
report puts that spread beside the observed divergence: "this divergence is
1e+06× what rounding alone produces by step 3", or "within the loop's own
chaos".
"""

from __future__ import annotations

import dataclasses
from typing import Any

from nbgrad.determinism import summary
from nbgrad.determinism.localise import Location
from nbgrad.determinism.runner import CellRunner, RunConfig, RunRecord

#: Steps past the divergent one that the probe follows.
EXTRA_STEPS = 2


def _nudge_target(runner: CellRunner) -> Any:
    """The entry of the largest float array in the snapshot (the state the loop starts from)."""
    floats = [e for e in runner.snapshot.arrays
              if e.array.dtype.kind == "f" and e.array.size and e.array.flags.writeable]
    return max(floats, key=lambda e: e.array.size, default=None)


def chaos_probe(runner: CellRunner, config: RunConfig, step: int, location: Location,
                rerun: RunRecord) -> dict[str, Any] | None:
    """Run the probe up to a little past ``step``; ``None`` when there is no float state."""
    target = _nudge_target(runner)
    if target is None:
        return None
    up_to = step + EXTRA_STEPS
    settings = dataclasses.replace(config, stop_after_step=up_to, trace_step=None, run=None,
                                   label="chaos probe")
    reference = runner.run(settings, keep=True)
    nudged = runner.run(dataclasses.replace(settings, nudge=target.path), reference=reference)
    spread: list[float | None] = []
    for diffs in nudged.diffs:
        sizes = [d.max_abs for d in diffs.values() if d is not None and d.max_abs is not None]
        spread.append(max(sizes) if sizes else None)
    # The divergence as the step's state shows it (run 0 vs the rerun), like the spread; a
    # traced line can differ by more (a partial sum taken in another order).
    sizes = [d.max_abs for d in rerun.diffs[step].values()
             if d is not None and d.max_abs is not None and d.max_abs > 0] \
        if step < len(rerun.diffs) else []
    observed = max(sizes) if sizes else (
        location.difference.max_abs if location.difference is not None else None)
    return summary.chaos_entry(target.name, spread, min(step, max(len(spread) - 1, 0)),
                               observed)
