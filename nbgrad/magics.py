"""``%gradcheck`` and ``%determinism``: the thin IPython layer over the two engines.

Like line_profiler's ``%lprun``, a magic here only parses its options,
resolves names in the user's namespace, calls the engine and returns the
report, so the report is the cell's output value and renders itself.

Syntax (``%gradcheck?`` shows the options)::

    %gradcheck EXPR --wrt NAMES [options]        # options after the expression
    %gradcheck --wrt NAMES [options] -- EXPR     # or before it, separated by --
    %%gradcheck --wrt NAMES [options]            # the cell computes the cost
    %%determinism [options]                      # the cell is the training loop
    %determinism STATEMENT [options]

In the line forms an option starts at the first ``--NAME`` (a known option
name, outside brackets and strings) that follows the expression; a bare
``--`` puts the options first, for an expression that itself contains
something like ``--wrt``.

Errors nbgrad raises on purpose (:class:`nbgrad.errors.NbgradError`) are shown
as IPython usage errors: one message, no traceback from inside nbgrad; when
the user's own code raised, its traceback follows the message.
KeyboardInterrupt propagates after the engines have restored the state, as a
fresh interrupt that says so in one line, without any frames.

Options are checked here, before any work: ``-h``/``--help`` prints the
usage, and a malformed line (an unterminated quote, an unmatched bracket, a
value out of range, a top-level ``await`` or ``return`` in the cell) is a
:class:`~nbgrad.errors.UsageError` naming the option and what it accepts.
"""

from __future__ import annotations

import argparse
import ast
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split

from nbgrad.determinism import check_determinism
from nbgrad.determinism.steps import cell_label
from nbgrad.errors import CellError, NbgradError, UsageError
from nbgrad.gradcheck.budget import DEFAULT_MAX_EVALUATIONS as MAX_EVALUATIONS
from nbgrad.gradcheck.budget import EvaluationBudgetError
from nbgrad.gradcheck.cell import gradcheck_cell, split_names
from nbgrad.namespace.usercode import register_source, user_traceback
from nbgrad.report.progress import progress_reporter

#: ``--runs`` above this is a typo (each run reruns the whole training loop).
MAX_RUNS = 100
#: ``--max-snapshot-mb`` above this (1 TB) is no limit at all.
MAX_SNAPSHOT_MB = 1_000_000
_HELP = frozenset({"-h", "--help"})
_CLOSING = {")": "(", "]": "[", "}": "{"}

_BLOCK = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*(\d+(?:\s*[x×]\s*\d+)*)\s*")


def split_line(line: str, option_names: list[str], magic: str) -> tuple[str, str]:
    """Split the line of ``%magic`` into ``(code, options)``; see the module docstring."""
    separator = _top_level_match(line, re.compile(r"(?<!\S)--(?!\S)"))
    if separator is not None:
        return line[separator.end():].strip(), line[: separator.start()].strip()
    option = _top_level_match(line, re.compile(rf"(?<!\S)--(?:{'|'.join(option_names)})\b"))
    if option is None:
        return line.strip(), ""
    if not line[: option.start()].strip():
        raise UsageError(
            f"%{magic}: write the code first and the options after it "
            f"(%{magic} CODE --option ...), or end the options with a bare -- "
            f"(%{magic} --option ... -- CODE)"
        )
    return line[: option.start()].strip(), line[option.start():].strip()


def _top_level_match(line: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """The first match of ``pattern`` that starts outside brackets and string literals.

    A bracket closed that was never opened (``cg(W)) --wrt W``) is a
    :class:`UsageError` naming its column: past it every option would be
    taken for code.
    """
    opened: list[str] = []
    quote, position = "", 0
    while position < len(line):
        char = line[position]
        if quote:
            if char == "\\":
                position += 1
            elif line.startswith(quote, position):
                position += len(quote) - 1
                quote = ""
        elif char in "'\"":
            quote = char * 3 if line.startswith(char * 3, position) else char
            position += len(quote) - 1
        elif char in "([{":
            opened.append(char)
        elif char in _CLOSING:
            if not opened or opened.pop() != _CLOSING[char]:
                raise UsageError(
                    f"unmatched {char!r} at column {position + 1} of {line.strip()!r}: "
                    "the brackets of the code must balance before the options start"
                )
        elif not opened and (match := pattern.match(line, position)):
            return match
        position += 1
    return None


def parse_blocks(spec: str | None) -> dict[str, tuple[int, ...]] | None:
    """``"Theta1=5x4,Theta2=3x6"`` -> ``{"Theta1": (5, 4), "Theta2": (3, 6)}``."""
    if spec is None:
        return None
    blocks = {}
    for part in spec.split(","):
        match = _BLOCK.fullmatch(part)
        if match is None:
            raise UsageError(
                f"--blocks: cannot read {part.strip()!r}; expected NAME=ROWSxCOLS pieces "
                "separated by commas, in the order they are stored, e.g. Theta1=5x4,Theta2=3x6"
            )
        if match.group(1) in blocks:
            raise UsageError(
                f"--blocks: {match.group(1)} is named twice; give each piece its own name"
            )
        blocks[match.group(1)] = tuple(int(n) for n in re.split(r"\s*[x×]\s*", match.group(2)))
    return blocks


def _int_range(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: an integer literal from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer from {low} to {high}, got {text!r}")
        return value

    return parse


def _float_range(low: float, high: float, *, low_open: bool = True,
                 high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number between ``low`` and ``high``."""
    accepted = f"a finite number {'>' if low_open else '≥'} {low:.12g}"
    if not math.isinf(high):
        accepted += f" and {'<' if high_open else '≤'} {high:.12g}"

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        above = low < value if low_open else low <= value
        below = value < high if high_open else value <= high
        if not (math.isfinite(value) and above and below):
            raise argparse.ArgumentTypeError(f"expected {accepted}, got {text!r}")
        return value

    return parse


def _identifier(text: str) -> str:
    """An argparse ``type``: a variable name (``--cost``, ``--grad``)."""
    if not text.isidentifier():
        raise argparse.ArgumentTypeError(f"expected a variable name, got {text!r}")
    return text


def parse_options(magic: Any, name: str, options: str) -> argparse.Namespace | None:
    """The magic's options, checked; ``None`` when ``-h``/``--help`` asked for the usage.

    Every failure is a :class:`UsageError` that starts with ``%name:`` and
    names the option (argparse's wording says which argument and what it
    accepts), never the splitter's or argparse's raw exception.
    """
    try:
        tokens = arg_split(options, strict=True)  # how IPython splits them, quotes kept
    except ValueError as error:  # "No closing quotation", "No escaped character"
        raise UsageError(
            f"%{name}: cannot read the options {options!r}: {str(error).lower()} — close the "
            f"quote or drop it (see %{name} -h)"
        ) from None
    if _HELP & set(tokens):
        print(magic.__doc__.strip("\n:"))
        return None
    try:
        return magic.parser.parse_args(tokens)
    except (IPythonUsageError, SystemExit) as error:
        raise UsageError(f"%{name}: {error} (see %{name} -h)") from None


def refuse_top_level_async_or_return(code: str, name: str) -> None:
    """A cell nbgrad reruns is a script: a top-level ``return`` or ``await`` cannot compile.

    Raises :class:`UsageError` with the line; code that does not parse is left
    to the engine, which reports the syntax error with its line.
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return
    pending: list[ast.AST] = list(tree.body)
    offending: list[ast.AST] = []
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(node, ast.Return) or type(node) in _ASYNC_WORDS:
            offending.append(node)
        pending.extend(ast.iter_child_nodes(node))
    if not offending:
        return
    node = min(offending, key=lambda found: (found.lineno, found.col_offset))
    if isinstance(node, ast.Return):
        instead = ("leave the cost as the cell's last expression (or assign it and name it "
                   "with --cost)" if name == "gradcheck" else "drop it")
        raise UsageError(
            f"%{name}: line {node.lineno} has a top-level 'return', but the cell is not a "
            f"function: nbgrad reruns it as it stands — {instead}"
        )
    word = _ASYNC_WORDS[type(node)]
    raise UsageError(
        f"%{name}: line {node.lineno} has a top-level '{word}': nbgrad reruns the cell "
        f"synchronously, once per evaluation — compute it without '{word}' (call the "
        "synchronous function, or run the coroutine in a cell of its own first)"
    )


_ASYNC_WORDS: dict[type, str] = {ast.Await: "await", ast.AsyncFor: "async for",
                                 ast.AsyncWith: "async with", ast.Yield: "yield",
                                 ast.YieldFrom: "yield from"}


def _label(code: str, cost: str | None = None) -> str:
    """What the report says was checked: the expression that gives the cost.

    ``%gradcheck EXPR`` is labelled by EXPR; a ``%%gradcheck`` cell by its last
    expression, or with ``--cost NAME`` by the value last assigned to NAME (its
    set-up lines say little); failing both, by its first code line.
    """
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    first = next((line for line in lines if not line.startswith("#")), lines[0] if lines else "")
    try:
        body = ast.parse(code).body
    except SyntaxError:
        return first
    if cost is None:
        values = [stmt.value for stmt in body[-1:] if isinstance(stmt, ast.Expr)]
    else:
        values = [stmt.value for stmt in body if isinstance(stmt, ast.Assign) and any(
            cost in {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
            for target in stmt.targets)]
    text = ast.get_source_segment(code, values[-1]) if values else None
    return " ".join(text.split()) if text else first


class Interrupted(KeyboardInterrupt):
    """Ctrl-C after the engine restored the state: IPython shows it as this one line."""

    def _render_traceback_(self) -> list[str]:  # IPython's hook for an exception's own display
        return [f"KeyboardInterrupt: {self}"]


@contextmanager
def _shown_as_usage_errors() -> Iterator[None]:
    """Turn nbgrad's own errors into IPython usage errors (message only, no nbgrad frames)."""
    try:
        yield
    except KeyboardInterrupt as interrupt:
        # Stop pressed: the engines restored everything on the way out.  A fresh interrupt,
        # without the dozens of nbgrad frames it passed through, says so in one line (the
        # engine's own words when it gave some: %determinism says which state it restored).
        raise Interrupted(
            str(interrupt) or "interrupted; the parameters and the namespace are as before"
        ) from None
    except NbgradError as error:
        while isinstance(error.__cause__, NbgradError):  # the adapter's own, more specific error
            error = error.__cause__
        message = str(error)
        cause = error.__cause__
        if cause is not None and not isinstance(cause, SyntaxError):
            message += "\n\nTraceback of your code:\n" + user_traceback(cause, header=False)
            message = message.rstrip()
        raise IPythonUsageError(message) from None


@magics_class
class NbgradMagics(Magics):
    """The magics ``%load_ext nbgrad`` registers."""

    @magic_arguments()
    @argument("--wrt", required=True, metavar="NAMES",
              help="comma-separated arrays to check, e.g. nn_params or NN.AB,NN.BC or p['W']")
    @argument("--mode", choices=["full", "fast"], default="full",
              help="full: every element; fast: random projections, then bisection on failure")
    @argument("--blocks", metavar="SPEC",
              help="name the pieces of one flat vector, in storage order: Theta1=5x4,Theta2=3x6")
    @argument("--rtol", type=_float_range(0, 1, high_open=True),
              help="relative-error threshold, between 0 and 1 (default: per dtype and noise)")
    @argument("--seed", type=_int_range(0, 2**32 - 1), default=0,
              help="seed of the random directions (fast mode), from 0 to 2**32-1")
    @argument("--cost", metavar="NAME", type=_identifier,
              help="cell form: the variable holding the cost (default: the last expression)")
    @argument("--grad", metavar="NAME", type=_identifier,
              help="cell form: the variable holding the analytic gradient")
    @argument("--update-lr", type=_float_range(0, math.inf), metavar="LR",
              help="the cell applies theta -= LR * grad itself: infer grad from the update")
    @argument("--max-evaluations", type=_int_range(1, 10**12), metavar="N",
              help=f"refuse a full check needing more evaluations (default {MAX_EVALUATIONS:,})")
    @argument("--widget", action="store_true",
              help="also show the live ipywidgets view beside the static report")
    @line_cell_magic
    def gradcheck(self, line: str, cell: str | None = None) -> Any:
        """Check an analytic gradient against finite differences: where, what kind, how sure.

        Forms::

            %gradcheck EXPR --wrt NAMES [options]     options after the expression
            %gradcheck --wrt NAMES [options] -- EXPR  or before it, ended by a bare --
            %%gradcheck --wrt NAMES [options]         the cell computes the cost

        EXPR (or the cell's last expression, or the ``--cost``/``--grad``
        variables) gives the cost or ``(cost, grad)``.  With ``--update-lr LR``
        the cell applies the weight update itself and reports the cost at the
        weights it started from; the gradient is read off the update, and the
        tolerance is widened (the report says so) when rounding in
        ``θ − LR·g`` limits its precision.  The cell runs once per cost
        evaluation; everything it changes is restored after every run.
        """
        with _shown_as_usage_errors():
            parsed = self._code_and_options(self.gradcheck, "gradcheck", line, cell)
            if parsed is None:
                return None
            code, args = parsed
            if not code.strip():
                raise UsageError("%gradcheck needs the expression (or cell) that gives the cost")
            label = _label(code, args.cost)
            fast = None if args.mode == "fast" else _fast_command(line, cell is not None)
            with progress_reporter(f"gradcheck {label}", fast_command=fast) as progress:
                try:
                    report = gradcheck_cell(
                        code, self.shell.user_ns, args.wrt, cost_name=args.cost,
                        grad_name=args.grad, update_lr=args.update_lr, rtol=args.rtol,
                        filename=register_source(code, "gradcheck"), label=label,
                        mode=args.mode, blocks=parse_blocks(args.blocks), seed=args.seed,
                        progress=progress, max_evaluations=args.max_evaluations,
                    )
                except EvaluationBudgetError as error:
                    raise UsageError(_over_budget(error, fast or "")) from None
            return _with_widget(report, args.widget)

    @magic_arguments()
    @argument("--runs", type=_int_range(2, MAX_RUNS), default=2,
              help=f"runs to compare, the plain run 0 included (2 to {MAX_RUNS})")
    @argument("--track", metavar="NAMES",
              help="comma-separated names to compare per step (default: what the cell changes)")
    @argument("--no-poison", action="store_true",
              help="do not fill fresh allocations with run-specific bytes")
    @argument("--compare-numpy", action="store_true",
              help="also run the cell with numpy in place of cp and report the per-step gap")
    @argument("--max-snapshot-mb", type=_float_range(0, MAX_SNAPSHOT_MB), metavar="MB",
              help="refuse to start when the state to snapshot is larger")
    @argument("--widget", action="store_true",
              help="also show the live ipywidgets view beside the static report")
    @line_cell_magic
    def determinism(self, line: str, cell: str | None = None) -> Any:
        """Rerun a training loop; report the first divergent step, variable, line and cause.

        Forms::

            %%determinism [options]                   the cell is the training loop
            %determinism STATEMENT [options]          or one statement
            %determinism [options] -- STATEMENT

        A step is one iteration of the outermost loop.  Afterwards the
        namespace holds what one plain run of the cell would have left.
        """
        with _shown_as_usage_errors():
            parsed = self._code_and_options(self.determinism, "determinism", line, cell)
            if parsed is None:
                return None
            code, args = parsed
            if not code.strip():
                raise UsageError("%determinism needs the cell (or statement) to rerun")
            label = cell_label(code)
            max_bytes = None if args.max_snapshot_mb is None else int(args.max_snapshot_mb * 2**20)
            with progress_reporter(f"determinism {label}", unit="runs") as progress:
                report = check_determinism(
                    code, self.shell.user_ns, runs=args.runs,
                    track=None if args.track is None else split_names(args.track),
                    poison=not args.no_poison, compare_numpy=args.compare_numpy,
                    max_snapshot_bytes=max_bytes, progress=progress, label=label,
                    filename=register_source(code, "determinism"),
                )
            if report.exception is not None:  # raised in run 0: show the report, then stop
                from IPython.display import display  # Run All here, as a plain run would

                _with_widget(report, args.widget)
                display(report)
                raise CellError(f"the cell raised {type(report.exception).__name__} in run 0 "
                                f"(the plain run): {report.exception}") from report.exception
            return _with_widget(report, args.widget)


    def _code_and_options(self, magic: Any, name: str, line: str,
                          cell: str | None) -> tuple[str, argparse.Namespace] | None:
        """The code to check and its parsed options; ``None`` after printing ``-h``."""
        if cell is None:
            if line.strip() in _HELP:
                return parse_options(magic, name, line)
            try:
                code, options = split_line(line, _option_names(magic), name)
            except UsageError as error:
                message = str(error)
                raise UsageError(message if message.startswith("%") else f"%{name}: {message}"
                                 ) from None
        else:
            code, options = self.shell.transform_cell(cell), line
        args = parse_options(magic, name, options)
        if args is None:
            return None
        refuse_top_level_async_or_return(code, name)
        return code, args


def _with_widget(report: Any, wanted: bool) -> Any:
    """With ``--widget``, the report's own output carries the live view beside its static ones.

    One output, so the report shows once; its ``text/html`` is what an export
    (and nbconvert when no widget state was saved) shows instead of the widget's
    repr (see :mod:`nbgrad.report.bundle`).
    """
    if wanted:
        from nbgrad.report.bundle import show_live

        show_live(report.id)  # not to_dict(): a deep copy for one field
    return report


def _over_budget(error: EvaluationBudgetError, fast_command: str) -> str:
    """The refusal of a full check over the evaluation budget, with the command to run instead."""
    return (
        f"%gradcheck: full mode would difference all {error.coordinates:,} coordinates: at "
        f"least {error.planned:,} evaluations of the cost, over the budget of "
        f"{error.budget:,} (--max-evaluations). The same check in fast mode decides from "
        "random directional derivatives with a few dozen evaluations (plus about 6·log₂(N) "
        f"per wrong element to find it):\n\n    {fast_command}\n\nor allow the full check "
        f"with --max-evaluations {error.planned}"
    )


def _fast_command(line: str, is_cell: bool) -> str:
    """The same magic with ``--mode fast``, for the progress hint of a long full check."""
    options = re.sub(r"\s*--mode(\s+|=)full\b", "", line).strip()
    magic = "%%gradcheck" if is_cell else "%gradcheck"
    before, bare, expression = options.partition(" -- ")  # options before a bare --
    if bare:
        return f"{magic} {before.strip()} --mode fast -- {expression.strip()}"
    return f"{magic} {options} --mode fast"


def _option_names(magic: Any) -> list[str]:
    """The ``--long`` option names a magic's parser knows, for :func:`split_line`."""
    return [
        option[2:] for action in magic.parser._actions for option in action.option_strings
        if option.startswith("--")
    ]
