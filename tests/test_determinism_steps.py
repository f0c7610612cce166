"""Steps are iterations of the outermost loops, found by rewriting the cell's syntax tree."""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st

from nbgrad import check_determinism
from nbgrad.determinism.steps import STEP_HOOK, assigned_names, prepare_source


def count_steps(source: str) -> int:
    calls = []
    cell = prepare_source(source, "<nbgrad-cell-steps>")
    cell.run({STEP_HOOK: lambda: calls.append(1)})
    return len(calls)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 12), st.integers(0, 12), st.integers(1, 13), st.integers(0, 4))
def test_every_iteration_is_one_step_whatever_continue_and_break_do(n, skip, stop, inner):
    source = (
        f"for i in range({n}):\n"
        f"    if i == {skip}:\n        continue\n"
        f"    for j in range({inner}):\n        if j == 1:\n            break\n"
        f"    if i == {stop}:\n        break\n"
    )
    breaks_at = None if stop == skip else stop  # `continue` comes first on that iteration
    assert count_steps(source) == (n if breaks_at is None else min(n, breaks_at + 1))


def test_while_loop_and_loops_inside_top_level_if_with_try_count():
    source = (
        "k = 0\nwhile k < 3:\n    k += 1\n"
        "if True:\n    for a in range(2):\n        pass\n"
        "try:\n    for b in range(4):\n        pass\nexcept Exception:\n    pass\n"
    )
    assert count_steps(source) == 3 + 2 + 4


def test_loops_inside_functions_and_classes_are_not_steps():
    source = ("def f():\n    for i in range(5):\n        pass\nf()\n"
              "class C:\n    for i in range(2):\n        pass\n")
    assert count_steps(source) == 0
    assert not prepare_source(source, "<nbgrad-cell-steps>").has_loop


def test_rewrite_keeps_line_numbers():
    cell = prepare_source("x = 0\nfor i in range(2):\n    x += i\n", "<nbgrad-cell-lines>")
    assert cell.has_loop
    tree = ast.parse("x = 0\nfor i in range(2):\n    x += i\n")
    assert tree.body[1].lineno == 2


def test_assigned_names_cover_attributes_subscripts_augmented_and_loop_targets():
    tree = ast.parse(
        "a = 1\nNN.AB = 2\nparams[0] = 3\nb += 1\nfor t in x:\n    c, (d, *e) = f()\n"
        "def g():\n    inner = 1\nimport numpy as np\n"
    )
    assert assigned_names(tree) == ["a", "NN.AB", "params", "b", "t", "c", "d", "e", "g", "np"]


def test_cell_without_a_loop_is_one_step():
    report = check_determinism("y = x * 2\n", {"x": 3.0}).to_dict()
    assert report["steps"] == 1 and report["deterministic"]
    assert [row["step"] for row in report["per_step"]] == [0]


def test_callable_loops_are_steps_too():
    namespace = {"total": 0.0}

    def train():
        for i in range(4):
            namespace["total"] += i

    report = check_determinism(train, namespace)
    assert report.to_dict()["steps"] == 4 and report.deterministic
    assert namespace["total"] == 6.0  # exactly one plain run's effect


def test_step_hook_never_leaks_into_the_namespace():
    namespace = {"x": 1.0}
    check_determinism("for i in range(2):\n    x = x + 1\n", namespace)
    assert STEP_HOOK not in namespace and namespace["x"] == 3.0


def test_code_after_the_loop_is_checked_too():
    cell = "import numpy as np\nfor i in range(2):\n    w = i\nfinal = np.random.rand()\n"
    report = check_determinism(cell, {})
    d = report.first_divergence
    assert report.to_dict()["steps"] == 2
    assert (d["step"], d["variable"], d["cause"]) == (2, "final", "unseeded_rng")
    assert d["line"] == 4 and "after the last step" in report.headline


def test_with_import_as_del_except_def_and_walrus_bindings_are_the_cells_own():
    tree = ast.parse(
        "with open(p) as f, ctx() as (g, h):\n    pass\n"
        "import numpy.linalg as la\nimport os.path\nfrom math import sqrt as root\n"
        "del stale\n"
        "try:\n    pass\nexcept ValueError as err:\n    pass\n"
        "def helper():\n    inner = 1\n"
        "class Model:\n    attr = 2\n"
        "total = [y := v for v in range(3)]\n"
    )
    assert assigned_names(tree) == ["f", "g", "h", "la", "os", "root", "stale", "err",
                                    "helper", "Model", "total", "y"]


def test_a_with_target_that_rebinds_a_stale_file_from_an_earlier_cell_is_not_refused(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("1.0\n2.0\n3.0\n")
    earlier = data.open()  # `f` from an earlier cell, already read to its end
    earlier.read()
    ns = {"f": earlier, "p": str(data)}
    report = check_determinism(
        "total = 0.0\nwith open(p) as f:\n    for line in f:\n        total += float(line)\n",
        ns)
    earlier.close()
    assert report.deterministic, report.headline
    assert ns["total"] == 6.0
