"""Steps without a tracer: the cell's outermost loops call a hook after every iteration.

A training cell's natural unit is one pass of its outermost loop.  Rather
than tracing every line to notice iteration boundaries (slow, and it would
perturb the timing-sensitive code we are checking), the cell's syntax tree is
rewritten so that each iteration of every outermost ``for``/``while`` ends
with ``__nbgrad_step__()`` — also right before a ``continue`` or ``break``
that leaves the iteration early.  A cell without a loop is a single step.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Name the rewritten code calls; put into the namespace only while a run is going.
STEP_HOOK = "__nbgrad_step__"

_LOOPS = (ast.For, ast.While, ast.AsyncFor)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _hook_call(at: ast.AST) -> ast.stmt:
    call = ast.Expr(ast.Call(ast.Name(STEP_HOOK, ast.Load()), [], []))
    return ast.copy_location(call, at)


class _LoopExitMarker(ast.NodeTransformer):
    """Puts the hook before ``continue``/``break`` of one loop (not of nested loops)."""

    def visit_Continue(self, node: ast.Continue) -> list[ast.stmt]:
        return [_hook_call(node), node]

    visit_Break = visit_Continue

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, _LOOPS + _SCOPES):
            return node
        return super().generic_visit(node)


def _instrument_loop(loop: ast.For | ast.While | ast.AsyncFor) -> None:
    marker = _LoopExitMarker()
    loop.body = [marker.visit(stmt) for stmt in loop.body]
    loop.body = [s for stmt in loop.body for s in (stmt if isinstance(stmt, list) else [stmt])]
    loop.body.append(_hook_call(loop.body[-1]))


def instrument_outermost_loops(statements: list[ast.stmt]) -> int:
    """Rewrite the outermost loops among ``statements`` (looking inside if/with/try); count them."""
    loops = outermost_loops(statements)
    for loop in loops:
        _instrument_loop(loop)
    return len(loops)


def outermost_loops(statements: list[ast.stmt]) -> list[ast.For | ast.While | ast.AsyncFor]:
    """The loops that are steps: not nested in another loop or a function/class body."""
    found: list[ast.For | ast.While | ast.AsyncFor] = []
    for stmt in statements:
        if isinstance(stmt, _LOOPS):
            found.append(stmt)
        elif not isinstance(stmt, _SCOPES):
            for name in ("body", "orelse", "finalbody", "handlers", "cases"):
                for child in getattr(stmt, name, []):
                    inner = child.body if isinstance(child, (ast.excepthandler, ast.match_case)) \
                        else [child]
                    found += outermost_loops(inner)
    return found


#: Calls that say nothing about what a loop trains (bookkeeping, printing, conversions).
_PLAIN_CALLS = frozenset({
    "print", "range", "len", "enumerate", "zip", "float", "int", "str", "list", "tuple",
    "dict", "set", "min", "max", "sum", "abs", "round", "isinstance", "append", "extend",
    "format", "item",
})
_LABEL_CHARS = 80


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _first_call(source: str, statements: list[ast.stmt]) -> str | None:
    """The first call in ``statements`` (source order, outermost first) that is not bookkeeping."""
    calls = sorted(
        (node for stmt in statements for node in ast.walk(stmt) if isinstance(node, ast.Call)),
        key=lambda node: (node.lineno, node.col_offset),
    )
    call = next((c for c in calls if _callee(c) not in _PLAIN_CALLS), None)
    text = None if call is None else ast.get_source_segment(source, call)
    if text is None:
        return None
    text = " ".join(text.split())
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def cell_label(source: str) -> str:
    """What a report says a training cell checked: its loop's first call, not its first line.

    The cell's first line is usually set-up (``losses = []``, ``init_rnn()``) that many
    cells share; the first call inside the outermost loop names the training step.  A cell
    without a loop is named by its first call, one without a call by its first code line.

    >>> cell_label("losses = []\ninit()\nfor t in range(3):\n    loss = step(W, t)\n")
    'step(W, t)'
    >>> cell_label("x = 1\ny = 2")
    'x = 1'
    """
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    first_line = next((line for line in lines if not line.startswith("#")), "")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return first_line
    loops = outermost_loops(tree.body)
    return ((_first_call(source, loops[0].body) if loops else None)
            or _first_call(source, tree.body) or first_line)


def _target_paths(target: ast.AST) -> list[str]:
    """Names an assignment target binds: ``x``, ``NN.AB``; ``params[0]`` counts as ``params``."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [p for elt in target.elts for p in _target_paths(elt)]
    if isinstance(target, ast.Starred):
        return _target_paths(target.value)
    if isinstance(target, ast.Attribute):
        inner = _target_paths(target.value)
        return [f"{inner[0]}.{target.attr}"] if len(inner) == 1 else []
    if isinstance(target, ast.Subscript):
        return _target_paths(target.value)[:1]
    return []


def assigned_names(tree: ast.AST) -> list[str]:
    """Names and attribute paths the cell itself assigns, in order of first assignment."""
    found: dict[str, None] = {}

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):  # ``import numpy as np``
                found.update(dict.fromkeys((alias.asname or alias.name).split(".")[0]
                                           for alias in child.names if alias.name != "*"))
                continue
            if isinstance(child, _SCOPES):  # ``def step(...)``: the name, not the body
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    found[child.name] = None
                continue
            targets: list[ast.AST] = []
            if isinstance(child, ast.Assign):
                targets = child.targets
            elif isinstance(child, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor,
                                    ast.NamedExpr)):
                targets = [child.target]
            elif isinstance(child, (ast.With, ast.AsyncWith)):  # ``with open(p) as f``
                targets = [item.optional_vars for item in child.items if item.optional_vars]
            elif isinstance(child, ast.Delete):  # ``del cache``
                targets = child.targets
            elif isinstance(child, ast.ExceptHandler) and child.name:
                targets = [ast.Name(child.name, ast.Store())]
            for target in targets:
                found.update(dict.fromkeys(_target_paths(target)))
            visit(child)

    visit(tree)
    return list(found)


@dataclass
class PreparedCell:
    """What a run executes: instrumented code plus what the rewrite learned."""

    run: Callable[[dict[str, Any]], Any]
    globals_: dict[str, Any] | None
    has_loop: bool
    assigned: list[str]
    filename: str
    source: str
    #: Names the cell reads, and names its outermost loops iterate over directly.
    reads: list[str] = field(default_factory=list)
    iterates: list[str] = field(default_factory=list)


def prepare_source(source: str, filename: str) -> PreparedCell:
    """Parse and instrument a cell's source; ``SyntaxError`` propagates (it is the user's)."""
    tree = ast.parse(source, filename=filename)
    reads = list(dict.fromkeys(n.id for n in ast.walk(tree)
                               if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)))
    iterates = [loop.iter.id for loop in outermost_loops(tree.body)
                if isinstance(loop, (ast.For, ast.AsyncFor)) and isinstance(loop.iter, ast.Name)]
    loops = instrument_outermost_loops(tree.body)
    code = compile(ast.fix_missing_locations(tree), filename, "exec")

    def run(namespace: dict[str, Any]) -> None:
        exec(code, namespace)

    return PreparedCell(run, None, loops > 0, assigned_names(tree), filename, source,
                        reads, iterates)


def prepare_callable(func: Callable[[], Any]) -> PreparedCell:
    """Instrument a plain function's loops; other callables (closures, lambdas) are one step."""
    rebuilt = _rebuild_function(func) if isinstance(func, types.FunctionType) else None
    filename = getattr(getattr(func, "__code__", None), "co_filename", "<callable>")
    globals_ = getattr(func, "__globals__", None)
    if rebuilt is None:
        return PreparedCell(lambda _ns: func(), globals_, False, [], filename, "")
    new_func, has_loop, source = rebuilt
    return PreparedCell(lambda _ns: new_func(), globals_, has_loop, [], filename, source)


def _rebuild_function(func: types.FunctionType) -> tuple[Callable[[], Any], bool, str] | None:
    """Recompile ``func`` with its outermost loops instrumented; same globals, closure, lines.

    A closure's free variables are declared in a throw-away outer function so
    that the recompiled code expects the same cells, which are then reused.
    """
    if func.__name__ == "<lambda>":
        return None
    try:
        source = textwrap.dedent(inspect.getsource(func))
    except (OSError, TypeError):
        return None
    tree = ast.parse(source)
    definition = tree.body[0]
    if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    definition.decorator_list = []
    loops = instrument_outermost_loops(definition.body)
    free = func.__code__.co_freevars
    outer = ast.FunctionDef(
        name="__nbgrad_outer__", args=ast.arguments([], [], None, [], [], None, []),
        body=[*(ast.Assign([ast.Name(n, ast.Store())], ast.Constant(None)) for n in free),
              definition], decorator_list=[], returns=None, type_params=[])
    module = ast.Module([ast.copy_location(outer, definition)], [])
    ast.increment_lineno(module, func.__code__.co_firstlineno - 1)
    code = compile(ast.fix_missing_locations(module), func.__code__.co_filename, "exec")
    outer_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    inner = next(c for c in outer_code.co_consts
                 if isinstance(c, types.CodeType) and c.co_name == definition.name)
    if inner.co_freevars != free:
        return None
    new_func = types.FunctionType(inner, func.__globals__, func.__name__, func.__defaults__,
                                  func.__closure__)
    new_func.__kwdefaults__ = func.__kwdefaults__
    return new_func, loops > 0, source
