"""Turn a notebook cell (or one expression) into the ``fun(params)`` the gradient engine checks.

The magics know names (``--wrt nn_params``, ``--wrt NN.AB,NN.BC``) and source
text; the engine knows arrays and a callable.  This module bridges the two
without importing IPython, so the same adapter serves ``%gradcheck``, tests and
scripts:

- :func:`resolve_parameters` turns ``--wrt`` names into the live arrays, with
  messages that say which part of a dotted name is missing and what is there.
- :class:`CellCost` runs the cell for every cost evaluation.  A notebook cell
  has side effects (it assigns names, updates ``self.B_t``, may even apply a
  weight update), so every evaluation starts from the state the cell saw
  before the check, and the namespace ends exactly as it was: the
  shared :class:`~nbgrad.namespace.snapshot.Snapshot` restores
  bindings, array bytes and RNG states after each run.
- ``update_lr`` handles cells that fuse backprop and the weight update and
  never return a gradient (seed 001): the analytic gradient is read off the
  update the cell applies, ``(θ_before − θ_after) / lr``.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import difflib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from types import CodeType
from typing import Any

from nbgrad.backend import array_module, is_array
from nbgrad.errors import CellError, CostError, GradientError, ParameterError, UsageError
from nbgrad.gradcheck.api import gradcheck
from nbgrad.gradcheck.diagnoses import finding
from nbgrad.gradcheck.evaluate import split_return
from nbgrad.gradcheck.steps import machine_epsilon, tolerance
from nbgrad.namespace.paths import Path, format_path, parse_path, resolve
from nbgrad.namespace.sideeffects import SideEffects
from nbgrad.namespace.snapshot import Snapshot, is_user_name
from nbgrad.namespace.usercode import register_source
from nbgrad.report.gradcheck import GradcheckReport

#: How many attribute/key names an error message lists before "...".
_LISTED_NAMES = 12

#: The tolerance of an ``--update-lr`` check stays this many times above the
#: rounding error of the inferred gradient.
_UPDATE_SAFETY = 10.0

#: A tolerance this wide would pass almost any gradient: refuse instead.
_MEANINGLESS_TOLERANCE = 0.1

#: Learning rates ``--update-lr`` accepts: below, θ − lr·g rounds back to θ in float64;
#: above, the "update" is no gradient step (``inf``, ``1e300``).
UPDATE_LR_RANGE = (1e-12, 1e6)


def split_names(spec: str | Sequence[str]) -> list[str]:
    """``"NN.AB, NN.BC"`` -> ``["NN.AB", "NN.BC"]``; commas inside ``[...]`` do not split."""
    if not isinstance(spec, str):
        return [name for part in spec for name in split_names(part)]
    names, depth, start = [], 0, 0
    for position, char in enumerate(spec):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            names.append(spec[start:position])
            start = position + 1
    names.append(spec[start:])
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise UsageError("--wrt needs at least one name, e.g. --wrt nn_params or --wrt NN.AB,NN.BC")
    return names


def resolve_parameters(spec: str | Sequence[str], namespace: dict[str, Any]) -> dict[str, Any]:
    """Map each ``--wrt`` name to the array it names now, in the user's order.

    Raises :class:`UsageError` for a name that is not there (saying which step
    of ``NN.AB`` failed and what exists instead) and :class:`ParameterError`
    for a name that holds something other than an array.
    """
    parameters: dict[str, Any] = {}
    for name in split_names(spec):
        if name in parameters:
            raise UsageError(f"--wrt names {name} twice; name each array once")
        path = _wrt_path(name)
        value = _lookup(namespace, path)
        if isinstance(value, dict) and any(is_array(item) for item in value.values()):
            # --wrt model.params: every array of the dict, named as the user would index it
            for key, item in value.items():
                if is_array(item):
                    parameters[f"{name}[{key!r}]"] = item
            continue
        if not is_array(value):
            raise ParameterError(
                f"{name} is a {type(value).__name__}, not an array: --wrt takes the "
                "floating-point numpy or CuPy arrays the cost depends on"
                + _item_hint(name, value)
            )
        if _lookup(namespace, path) is not value:
            raise ParameterError(
                f"{name} returns a new array on each access: nbgrad cannot perturb it in "
                f"place — pass the array it is built from (a property computing {name} "
                "from another attribute: name that attribute with --wrt)"
            )
        parameters[name] = value
    return parameters


def _wrt_path(name: str) -> Path:
    """``NN.AB`` -> path; a slice or expression gets a message in --wrt's own words."""
    try:
        return parse_path(name)
    except UsageError:
        raise UsageError(
            f"--wrt {name}: expected an array's name, attribute or item (nn_params, NN.AB, "
            "p['W'], layers[0]); slices and expressions are not arrays nbgrad can perturb in "
            "place — name the whole array, and cut a flat one with --blocks NAME=ROWSxCOLS,..."
        ) from None


def _item_hint(name: str, value: Any) -> str:
    """For a dict or list of arrays: the --wrt names of its arrays."""
    if isinstance(value, dict):
        items = [f"{name}[{key!r}]" for key, item in value.items() if is_array(item)]
    elif isinstance(value, (list, tuple)):
        items = [f"{name}[{i}]" for i, item in enumerate(value) if is_array(item)]
    else:
        return ""
    return f" — name its arrays: --wrt {','.join(items[:_LISTED_NAMES])}" if items else ""


def _lookup(namespace: dict[str, Any], path: Path) -> Any:
    """The object at ``path``; a missing step raises a :class:`UsageError` listing the options."""
    for depth in range(1, len(path) + 1):
        try:
            value = resolve(namespace, path[:depth])
        except LookupError:
            raise UsageError(_missing_message(namespace, path, depth)) from None
    return value


def _missing_message(namespace: dict[str, Any], path: Path, depth: int) -> str:
    """Why ``path`` is not defined: the failing step and the names that do exist there."""
    wanted = format_path(path)
    kind, key = path[depth - 1]
    if kind == "name":
        close = difflib.get_close_matches(key, [n for n in namespace if not n.startswith("_")])
        hint = f"did you mean {', '.join(close)}?" if close else "run the cell defining it first"
        return f"name {wanted!r} is not defined in the notebook ({hint})"
    owner_name = format_path(path[: depth - 1])
    owner = resolve(namespace, path[: depth - 1])
    if kind == "attr":
        available = sorted(n for n in _attribute_names(owner) if not n.startswith("_"))
        missing = f"{owner_name} has no attribute {key}"
    else:
        available = [repr(k) for k in owner] if isinstance(owner, dict) else []
        missing = f"{owner_name} has no item [{key!r}]"
    listed = ", ".join(available[:_LISTED_NAMES])
    if len(available) > _LISTED_NAMES:
        listed += ", ..."
    it_has = f"; it has: {listed}" if listed else ""
    return f"name {wanted!r} is not defined in the notebook ({missing}{it_has})"


def _attribute_names(owner: Any) -> list[str]:
    """Instance attributes first (``NN.AB``), then the rest of ``dir`` (methods, properties)."""
    own = list(getattr(owner, "__dict__", {}))
    return own + [name for name in dir(owner) if name not in own]


@dataclass
class CompiledCell:
    """A cell split like IPython does: statements to run, then the last expression's value."""

    body: CodeType
    last_expression: CodeType | None
    changed_names: frozenset[str]

    @classmethod
    def compile(cls, source: str, filename: str) -> CompiledCell:
        """Parse ``source``; a syntax error is the user's, reported with its line."""
        try:
            tree = ast.parse(source, filename=filename)
        except SyntaxError as exc:
            message = f"the cell is not valid Python: {exc.msg} (line {exc.lineno})"
            raise UsageError(message) from exc
        changed = frozenset(_changed_names(tree))
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = compile(ast.Expression(tree.body.pop().value), filename, "eval")
        return cls(compile(tree, filename, "exec"), last, changed)

    def run(self, namespace: dict[str, Any]) -> Any:
        """Execute in ``namespace``; return the last expression's value (``None`` without one)."""
        exec(self.body, namespace)
        return None if self.last_expression is None else eval(self.last_expression, namespace)


class CellCost:
    """``fun(params)`` for :func:`nbgrad.gradcheck.gradcheck` that runs a notebook cell.

    Use it as a context manager: entering resolves the ``--wrt`` arrays and
    snapshots everything the cell can touch; every call runs the cell at the
    engine's (perturbed) parameters and puts the namespace back; leaving
    restores the snapshot once more, so an interrupted check also leaves the
    notebook as it was.
    """

    #: Shared with :class:`~nbgrad.gradcheck.evaluate.CostCalls`, so that the run
    #: measuring an update's precision is watched like every evaluation.
    nbgrad_side_effects: SideEffects

    def __init__(
        self,
        source: str,
        namespace: dict[str, Any],
        wrt: str | Sequence[str],
        *,
        filename: str | None = None,
        cost_name: str | None = None,
        grad_name: str | None = None,
        update_lr: float | None = None,
    ) -> None:
        if update_lr is not None and (grad_name is not None or not update_lr > 0):
            raise UsageError(
                "--update-lr needs a positive learning rate and replaces --grad: the gradient "
                f"is read off the update the cell applies (got lr={update_lr!r})"
            )
        low, high = UPDATE_LR_RANGE
        if update_lr is not None and not low <= update_lr <= high:
            why = (
                "θ − lr·g rounds back to θ: run the check with a larger learning rate"
                if update_lr < low else "that is no gradient step"
            )
            raise UsageError(
                f"--update-lr {update_lr!r}: expected the learning rate the cell applies, "
                f"between {low:g} and {high:g} — {why}"
            )
        self.namespace = namespace
        self.wrt = split_names(wrt)
        self.cell = CompiledCell.compile(source, filename or register_source(source, "gradcheck"))
        self.cost_name = cost_name
        self.grad_name = grad_name
        self.update_lr = update_lr
        self.params: dict[str, Any] = {}
        self._given: set[str] = set()
        self._snapshot: Snapshot | None = None
        self._bindings: dict[str, Any] = {}
        self.runs = 0
        self.nbgrad_side_effects = SideEffects("the cell")

    def touched_names(self) -> list[str]:
        """What is snapshotted and put back after every run: what the cell can visibly change.

        That is the roots of the ``--wrt`` names, the names the cell assigns or
        deletes, the owners of attributes and items it assigns (``NN`` in
        ``NN.B_t = ...``), and the objects it calls methods on
        (``NN.RNN_backprop(...)``, ``losses.append(...)``).  Data that is only
        passed along (``X`` in ``nnCost(nn_params, X, y)``) is not copied back
        after every one of the hundreds of runs.
        """
        roots = {parse_path(name)[0][1] for name in self.wrt}
        variables = {n for n in (self.cost_name, self.grad_name) if n}
        changed = {name for name in self.cell.changed_names if not hasattr(builtins, name)}
        return sorted(roots | variables | changed)

    def __enter__(self) -> CellCost:
        self._given = set(self.wrt)
        self.params = resolve_parameters(self.wrt, self.namespace)
        self.wrt = list(self.params)  # a --wrt dict stands for each of its arrays
        self._snapshot = Snapshot.take(self.namespace, self.touched_names())
        self._bindings = {n: v for n, v in self.namespace.items() if is_user_name(n)}
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._snapshot is not None:
            self._restore()
            self._snapshot = None

    def _restore(self) -> None:
        """Every top-level binding as before the check, then the touched names' contents.

        The snapshot copies only what the cell visibly changes; names it binds
        in ways the AST scan does not see (``def``, ``import``, a ``global``
        counter bumped inside the user's function) are put back here, which
        costs one pass over the bindings and copies nothing.
        """
        namespace, saved = self.namespace, self._bindings
        for name in namespace.keys() - saved.keys():  # set operations: this runs per evaluation
            if is_user_name(name):
                del namespace[name]
        current = namespace.get
        for name in [n for n, value in saved.items() if current(n, _MISSING) is not value]:
            namespace[name] = saved[name]
        self._snapshot.restore(namespace)

    def update_tolerance(self, requested: float | None) -> tuple[float | None, dict[str, Any]]:
        """The tolerance for an ``--update-lr`` check, and a finding that says how it was set.

        A gradient read off an update, ``(θ − (θ − lr·g)) / lr``, carries the
        rounding error of ``θ − lr·g``: about ``ε·|θ| / lr`` absolutely, or
        ``ε·max|θ| / (lr·max|g|)`` relative to the gradient's size.  When that
        (times a safety factor) exceeds the tolerance, demanding more would
        report rounding as a bug, so the tolerance is widened, and the report
        says so.  Measuring it costs one run of the cell at the unperturbed point.
        """
        try:
            with self.nbgrad_side_effects.run():
                _, grads = self(self.engine_params)
        except Exception as error:
            raise CellError(
                f"the cell raised {type(error).__name__}: {error} (at the unperturbed parameters)"
            ) from error
        grads = grads if isinstance(grads, list) else [grads]
        precision = max(
            _update_precision(theta, grad, self.update_lr)
            for theta, grad in zip(self.params.values(), grads, strict=True)
        )
        dtype = next(iter(self.params.values())).dtype
        demanded = requested if requested is not None else tolerance(machine_epsilon(dtype))
        needed = _UPDATE_SAFETY * precision
        if needed >= _MEANINGLESS_TOLERANCE:
            raise UsageError(
                f"--update-lr {self.update_lr:g}: the update changes the weights so little "
                f"against their size that (θ_before − θ_after) / lr keeps a relative precision "
                f"of only {precision:.1g}; run the check with a larger learning rate"
            )
        widened = needed > demanded
        message = (
            f"the analytic gradient was read off the update the cell applies, "
            f"(θ_before − θ_after) / {self.update_lr:g}; rounding θ − lr·g limits it to a "
            f"relative precision of about {precision:.1g}"
        )
        if widened:
            message += (
                f", so the tolerance was widened from {demanded:.1g} to {needed:.1g} "
                "(a larger learning rate makes the check stricter)"
            )
        details = {"lr": self.update_lr, "precision": precision, "widened": widened}
        note = finding(None, "update_precision", 1.0, message, **details)
        return (needed if widened else requested), note

    def leave_out_state(self) -> dict[str, Any] | None:
        """Arrays of a ``--wrt`` dict that the forward pass replaces: state, not parameters.

        ``--wrt model.params`` may hold BatchNorm's ``running_mean``: the cell
        rebinds or rewrites it on every run, and nothing is differentiated with
        respect to it.  One run at the unperturbed point finds them; they are
        named in a finding and left out of the check (the namespace is put back).
        """
        expanded = [name for name in self.wrt if name not in self._given]
        if not expanded:
            return None
        before = {name: _copy(self.params[name]) for name in expanded}
        try:
            with _quiet(True):
                self.cell.run(self.namespace)
            replaced = [name for name in expanded if _replaced(self.namespace, name, before)]
        except Exception:  # the check itself reports the cell's errors, where they happen
            replaced = []
        finally:
            self._restore()
            for name, array in before.items():
                array_module(array).copyto(self.params[name], array)
        if not replaced or len(replaced) == len(self.wrt):
            return None
        for name in replaced:
            del self.params[name]
        self.wrt = list(self.params)
        return finding(
            None, "state_left_out", 1.0,
            f"{', '.join(replaced)}: the forward pass replaced "
            f"{'it' if len(replaced) == 1 else 'them'} (running statistics, a cache), so "
            f"{'it is' if len(replaced) == 1 else 'they are'} state, not parameters — left "
            "out of the check",
            names=replaced,
        )

    @property
    def engine_params(self) -> Any:
        """What the engine perturbs: the one array, or a list in ``--wrt`` order (see ``names``).

        One array (not a one-entry list) so that ``blocks=`` can cut a flat
        vector such as seed 003's ``nn_params`` into named pieces.
        """
        arrays = list(self.params.values())
        return arrays[0] if len(arrays) == 1 else arrays

    def __call__(self, params: Any = None) -> Any:
        """Run the cell at the current parameter values; return cost or ``(cost, grad)``.

        ``params`` is ignored on purpose: the engine perturbs the very arrays
        the cell reads, in place.
        """
        if self._snapshot is None:
            raise RuntimeError("CellCost must be entered (with CellCost(...) as fun:) before use")
        perturbed = {name: _copy(array) for name, array in self.params.items()}
        try:
            with _quiet(self.runs > 0):
                value = self.cell.run(self.namespace)
            result = self._result(value, perturbed)
        finally:
            self.runs += 1
            self._restore()
            for name, array in self.params.items():
                array_module(array).copyto(array, perturbed[name])
        return result

    def _result(self, value: Any, perturbed: dict[str, Any]) -> Any:
        """Cost or ``(cost, grad)``, copied so restoring the namespace cannot change it."""
        cost = self._cost(value)
        if self.update_lr is not None:
            return cost, self._gradient_from_update(perturbed)
        if self.grad_name is not None:
            return cost, self._gradient_structure(_copy(self._assigned(self.grad_name, "--grad")))
        if isinstance(value, tuple) and self.cost_name is None:
            _, grads = split_return(value)  # (loss, grads) or (loss, *grads)
            return cost, self._gradient_structure(_copy(grads))
        raise GradientError(
            "the cell gave the cost but no analytic gradient: end it with (cost, grad), "
            "name the gradient's variable with --grad NAME, or, when the cell applies the "
            "weight update itself, use --update-lr LR"
        )

    def _cost(self, value: Any) -> Any:
        if self.cost_name is not None:
            return _copy(self._assigned(self.cost_name, "--cost"))
        if isinstance(value, list):
            raise CostError(
                f"the cell gave a list of {len(value)} value(s); end it with the cost, or with "
                "(cost, grad) as a tuple"
            )
        if value is None:
            raise CostError(
                "the cell gave no value: end it with an expression giving the cost "
                "(or (cost, grad)), or name the variable with --cost NAME"
            )
        if isinstance(value, tuple):
            if len(value) < 2:
                raise CostError(
                    f"the cell gave a tuple of {len(value)} value(s); "
                    "expected the cost, (cost, grad) or (cost, *grads)"
                )
            if self.update_lr is not None:
                raise CostError(
                    "with --update-lr the cell must give the cost only: the gradient is "
                    "read off the weight update, not returned"
                )
            return _copy(value[0])
        return _copy(value)

    def _assigned(self, name: str, option: str) -> Any:
        if name not in self.namespace:
            raise UsageError(f"{option} {name}: the cell did not assign a variable named {name!r}")
        return self.namespace[name]

    def _gradient_structure(self, grad: Any) -> Any:
        """The user's gradient in the structure of :attr:`engine_params`.

        A dict may be keyed by the --wrt names (``NN.AB``) or by their last step
        (``AB`` for ``NN.AB``, ``W`` for ``p['W']``), the keys hand-written
        backprop uses; one --wrt name also takes a one-entry list or dict.
        """
        if isinstance(grad, dict):
            grad = self._keyed_in_wrt_order(grad)
        if len(self.wrt) == 1 and isinstance(grad, (tuple, list)) and len(grad) == 1:
            grad = grad[0]
        if len(self.wrt) == 1 and not isinstance(grad, (tuple, list, dict)):
            return grad
        if isinstance(grad, (tuple, list)) and len(grad) == len(self.wrt):
            return list(grad)
        if isinstance(grad, (tuple, list)) and len(grad) > len(self.wrt):
            # (loss, *grads, hprev): min-char-rnn's lossFun returns the hidden state last;
            # the gradients come first in --wrt order, extra outputs are not gradients.
            first = list(grad[: len(self.wrt)])
            shapes = [tuple(getattr(g, "shape", ())) for g in first]
            if shapes == [tuple(a.shape) for a in self.params.values()]:
                return first
        raise GradientError(
            f"the gradient is a {type(grad).__name__}; for --wrt {','.join(self.wrt)} expected "
            f"{'one array' if len(self.wrt) == 1 else 'a tuple or list'} in --wrt order "
            "(or a dict keyed by the --wrt names)"
        )

    def _keyed_in_wrt_order(self, grad: dict[Any, Any]) -> Any:
        """A dict gradient as a list in --wrt order, or unchanged when its keys do not fit."""
        for key_of in (lambda name: name, lambda name: parse_path(name)[-1][1]):
            keys = [key_of(name) for name in self.wrt]
            if len(set(keys)) == len(keys) and set(keys) <= set(grad):  # a --wrt subset
                return [grad[key] for key in keys]
        return grad

    def _gradient_from_update(self, perturbed: dict[str, Any]) -> Any:
        """``(θ_before − θ_after) / lr`` for every ``--wrt`` name, read after the cell ran."""
        grads = []
        for name, before in perturbed.items():
            after = _lookup(self.namespace, parse_path(name))
            if not is_array(after) or after.shape != before.shape:
                raise GradientError(
                    f"after the cell ran, {name} is {_describe(after)}; --update-lr expected "
                    f"an array of shape {before.shape} updated as {name} - lr * gradient"
                )
            grads.append((before - after) / before.dtype.type(self.update_lr))
        return grads[0] if len(grads) == 1 else grads


_MISSING = object()


@contextlib.contextmanager
def _quiet(quiet: bool) -> Any:
    """Swallow what the cell prints on every run after the first.

    A plain run of the cell prints once; the check runs it hundreds of times,
    and a ``print(loss)`` repeated that often would bury the report.
    """
    if not quiet:
        yield
        return
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def _replaced(namespace: dict[str, Any], name: str, before: dict[str, Any]) -> bool:
    """The entry ``name`` now holds another object, or other values, than before the run."""
    try:
        now = _lookup(namespace, parse_path(name))
    except UsageError:
        return True
    old = before[name]
    if not is_array(now) or now.shape != old.shape:
        return True
    return not bool(array_module(old).array_equal(now, old, equal_nan=True))


def _changed_names(tree: ast.AST) -> set[str]:
    """Top-level names a cell can change; see :meth:`CellCost.touched_names`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        stored = isinstance(getattr(node, "ctx", None), ast.Store | ast.Del)
        if isinstance(node, ast.Name) and stored:
            names.add(node.id)
        elif isinstance(node, ast.Global):
            names.update(node.names)
        elif owner := _owner(node, stored):
            names.add(owner)
    return names


def _owner(node: ast.AST, stored: bool) -> str | None:
    """The object changed: ``NN`` in ``NN.B_t = ...``, ``losses`` in ``losses.append(x)``."""
    if isinstance(node, ast.Attribute | ast.Subscript) and stored:
        return _root_name(node.value)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return _root_name(node.func.value)
    return None


def _root_name(node: ast.expr) -> str | None:
    """``NN`` for ``NN.layers[0].W``; ``None`` when the chain starts elsewhere (a call result)."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def gradcheck_cell(
    source: str,
    namespace: dict[str, Any],
    wrt: str | Sequence[str],
    *,
    cost_name: str | None = None,
    grad_name: str | None = None,
    update_lr: float | None = None,
    rtol: float | None = None,
    filename: str | None = None,
    label: str | None = None,
    **options: Any,
) -> GradcheckReport:
    """Check the gradient a notebook cell computes: what ``%%gradcheck`` does, without IPython.

    ``source`` is the cell (or one expression) giving the cost or ``(cost,
    grad)``; ``wrt`` names the arrays; ``options`` (``mode``, ``blocks``,
    ``seed``, ``progress``) go to :func:`nbgrad.gradcheck.gradcheck`.  The
    namespace is left exactly as it was.
    """
    with CellCost(
        source, namespace, wrt, filename=filename,
        cost_name=cost_name, grad_name=grad_name, update_lr=update_lr,
    ) as cost:
        notes, runs = [], 0
        state = cost.leave_out_state()
        if state is not None:
            notes.append(state)
            runs += 1
        if update_lr is not None:
            rtol, note = cost.update_tolerance(rtol)
            notes.append(note)
            runs += 1
        report = gradcheck(
            cost, cost.engine_params, names=cost.wrt, rtol=rtol,
            label=source.strip() if label is None else label, **options,
        )
    if not notes:
        return report
    document = report.to_dict()
    hints = _learning_rate_hints(document, update_lr) if update_lr is not None else []
    document["findings"].extend([*hints, *notes])
    document["evaluations"] += runs  # the runs before the check (state probe, update precision)
    return GradcheckReport(document)


def _learning_rate_hints(document: dict[str, Any], lr: float) -> list[dict[str, Any]]:
    """A block off by a constant factor under ``--update-lr``: the rate itself may be wrong.

    The gradient is ``(θ_before − θ_after) / lr``, so an ``--update-lr`` that
    is not the rate the cell applies scales every inferred gradient by the
    ratio of the two; the generic hint (a forgotten 1/m) would miss that.
    """
    hints = []
    for block in document["blocks"]:
        c = block.get("scale")
        if "scale" in block["diagnoses"] and c is not None and c > 0:
            hints.append(finding(
                block["name"], "update_lr_scale", 0.7,
                f"{block['name']}: analytic ≈ {c:.4g} × numeric is what --update-lr {lr:g} "
                f"gives when the cell really applies a learning rate of {lr * c:.4g} — check "
                "that --update-lr is the rate the cell's update uses",
                applied_lr=lr * c,
            ))
    return hints


def _update_precision(theta: Any, grad: Any, lr: float) -> float:
    """``ε·max|θ| / (lr·max|g|)``: the relative precision of a gradient inferred from an update."""
    xp = array_module(theta)
    largest_step = lr * float(xp.max(xp.abs(grad))) if grad.size else 0.0
    if largest_step == 0.0:
        return 0.0
    return machine_epsilon(theta.dtype) * float(xp.max(xp.abs(theta))) / largest_step


def _copy(value: Any) -> Any:
    """A private copy of arrays (also inside tuples, lists and dicts); other values as they are."""
    if is_array(value):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_copy(item) for item in value)
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    return value


def _describe(value: Any) -> str:
    if is_array(value):
        return f"an array of shape {value.shape}"
    return f"a {type(value).__name__}"
