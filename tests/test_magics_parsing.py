"""How a magic line is cut into code and options, and how every option is checked."""

from __future__ import annotations

import math
import shlex

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from IPython.core.error import UsageError as IPythonUsageError

from nbgrad.errors import UsageError
from nbgrad.gradcheck.cell import split_names
from nbgrad.magics import (
    MAX_RUNS,
    MAX_SNAPSHOT_MB,
    NbgradMagics,
    parse_blocks,
    parse_options,
    refuse_top_level_async_or_return,
    split_line,
)

OPTIONS = ["wrt", "mode", "blocks", "rtol", "seed", "cost", "grad", "update-lr"]

#: Text full of the characters that confuse a naive splitter: quotes, escapes, brackets.
literal_text = st.text(alphabet=list("ab -'\"\\[](){},=x"), max_size=20) | st.text(max_size=20)


@given(literal_text, literal_text)
def test_options_inside_string_literals_and_brackets_do_not_split(first, second):
    code = f"f({first!r}, [{second!r} --wrt], g(a --wrt b))"
    assert split_line(f"{code} --wrt p --mode fast", OPTIONS, "gradcheck") == (
        code, "--wrt p --mode fast",
    )
    assert split_line(f"--wrt p --mode fast -- {code}", OPTIONS, "gradcheck") == (
        code, "--wrt p --mode fast",
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("nnCost(p, X) --wrt p", ("nnCost(p, X)", "--wrt p")),
        ("a --b --wrt p", ("a --b", "--wrt p")),  # --b is not an option: arithmetic
        ("x--wrt --wrt p", ("x--wrt", "--wrt p")),  # an option needs a space before it
        ("cost()", ("cost()", "")),
        ("  --rtol 1e-3 --wrt w --   cost() ", ("cost()", "--rtol 1e-3 --wrt w")),
    ],
)
def test_split_line_examples(line, expected):
    assert split_line(line, OPTIONS, "gradcheck") == expected


def test_options_first_without_separator_explains_both_forms():
    with pytest.raises(UsageError, match=r"%gradcheck CODE --option .*--option \.\.\. -- CODE"):
        split_line("--wrt p cost()", OPTIONS, "gradcheck")


def test_parse_blocks_reads_shapes_in_storage_order():
    blocks = parse_blocks("Theta1=5x4, Theta2 = 3 x 6,bias=7,T=2×3×4")
    assert blocks == {"Theta1": (5, 4), "Theta2": (3, 6), "bias": (7,), "T": (2, 3, 4)}
    assert list(blocks) == ["Theta1", "Theta2", "bias", "T"]
    assert parse_blocks(None) is None


@pytest.mark.parametrize("spec", ["Theta1", "Theta1=5x", "=5x4", "Theta1=5x4;Theta2=3x6", "1a=3"])
def test_parse_blocks_rejects_malformed_pieces(spec):
    with pytest.raises(UsageError, match="--blocks: cannot read"):
        parse_blocks(spec)


def test_split_names_keeps_commas_inside_subscripts():
    assert split_names("NN.AB, NN.BC,p['a,b'],q[0]") == ["NN.AB", "NN.BC", "p['a,b']", "q[0]"]
    with pytest.raises(UsageError, match="at least one name"):
        split_names(" , ")


# -- options checked before any work: help, ranges, quotes, brackets, await/return -------------

GRADCHECK = NbgradMagics.gradcheck
DETERMINISM = NbgradMagics.determinism


@pytest.mark.parametrize("cell", ["%gradcheck -h", "%gradcheck --help", "%%gradcheck -h\ncost()",
                                  "%gradcheck cost() --wrt w -h"])
def test_gradcheck_help_prints_the_usage_and_runs_nothing(shell, capsys, cell):
    shell.run_cell("calls = []\ndef cost():\n    calls.append(1)\n    return 0.0")
    result = shell.run_cell(cell)
    assert result.success and result.result is None
    printed = capsys.readouterr().out
    assert printed.startswith("%gradcheck --wrt NAMES") or "  %gradcheck --wrt NAMES" in printed
    assert "--update-lr LR" in printed and "options after the expression" in printed
    assert shell.user_ns["calls"] == []


@pytest.mark.parametrize("cell", ["%determinism -h", "%determinism --help",
                                  "%%determinism --help\nx = 1", "%determinism x = 1 --runs 3 -h"])
def test_determinism_help_prints_the_usage_and_runs_nothing(shell, capsys, cell):
    result = shell.run_cell(cell)
    assert result.success and result.result is None
    printed = capsys.readouterr().out
    assert "%determinism [--runs RUNS]" in printed and "--max-snapshot-mb MB" in printed
    assert "x" not in shell.user_ns


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("%gradcheck cg(W) --wrt 'W", "%gradcheck: cannot read the options \"--wrt 'W\": no "
                                      "closing quotation"),
        ("%%gradcheck --wrt 'W\ncg(W)", "no closing quotation"),
        ("%gradcheck cg(W)) --wrt W", "%gradcheck: unmatched ')' at column 6 of 'cg(W)) --wrt W'"),
        ("%gradcheck cg(W] --wrt W", "unmatched ']' at column 5"),
        ("%gradcheck cg(W) --wrt W --rtol 2", "argument --rtol: expected a finite number > 0 "
                                              "and < 1, got '2'"),
        ("%gradcheck cg(W) --wrt W --rtol nan", "argument --rtol: expected a finite number"),
        ("%gradcheck cg(W) --wrt W --seed -1", "argument --seed: expected an integer from 0 to "
                                               "4294967295, got '-1'"),
        ("%gradcheck cg(W) --wrt W --update-lr inf", "argument --update-lr: expected a finite "
                                                     "number > 0, got 'inf'"),
        ("%gradcheck cg(W) --wrt W --update-lr -0.1", "argument --update-lr"),
        ("%%gradcheck --wrt W --cost 'a b'\ncg(W)", "argument --cost: expected a variable name"),
        ("%gradcheck cg(W) --wrt W --mode quick", "argument --mode: invalid choice: 'quick'"),
        ("%gradcheck cg(W) --wrt", "argument --wrt: expected one argument"),
        ("%gradcheck cg(W) --wrt W --bogus 1", "unrecognized arguments: --bogus 1"),
        ("%%determinism --max-snapshot-mb nan\nx = 1",
         "argument --max-snapshot-mb: expected a finite number > 0 and ≤ 1000000, got 'nan'"),
        ("%%determinism --max-snapshot-mb inf\nx = 1", "argument --max-snapshot-mb"),
        ("%%determinism --max-snapshot-mb -5\nx = 1", "got '-5'"),
        ("%%determinism --runs 10**12\nx = 1", "argument --runs: expected an integer from 2 to "
                                               "100, got '10**12'"),
        ("%%determinism --runs 1000000000000\nx = 1", "from 2 to 100"),
        ("%%gradcheck --wrt W\nc = await cg(W)\nc", "%gradcheck: line 1 has a top-level 'await'"),
        ("%%gradcheck --wrt W\nx = 1\nreturn cg(W)", "%gradcheck: line 2 has a top-level 'return'"),
        ("%%gradcheck --wrt W\nfor i in range(2):\n    if i:\n        return cg(W)",
         "line 3 has a top-level 'return'"),
        ("%%gradcheck --wrt W\nasync for x in y:\n    pass\ncg(W)", "top-level 'async for'"),
        ("%%determinism\nfor i in range(3):\n    await step(i)", "%determinism: line 2 has a "
                                                               "top-level 'await'"),
    ],
)
def test_a_bad_option_or_cell_is_one_message_naming_the_culprit(shell, capsys, cell, message):
    shell.run_cell("W = np.ones(3)\ndef cg(W):\n    return float((W ** 2).sum()), 2 * W")
    before = {name: shell.user_ns[name] for name in ("W", "cg")}
    result = shell.run_cell(cell)
    assert isinstance(result.error_in_exec, IPythonUsageError)
    err = capsys.readouterr().err
    assert message in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert all(shell.user_ns[name] is value for name, value in before.items())


def test_return_and_await_inside_functions_are_fine():
    nested = ("def f():\n    return 1\nasync def g():\n    await h()\nclass C:\n"
              "    def m(self):\n        return (yield)\nlambda: 0\nf()")
    assert refuse_top_level_async_or_return(nested, "gradcheck") is None
    # the engine reports code that does not parse, with its line
    assert refuse_top_level_async_or_return("this is not ( python", "gradcheck") is None
    # the same code with one statement moved to the top level is refused at that line
    with pytest.raises(UsageError, match="line 10 has a top-level 'await'"):
        refuse_top_level_async_or_return(nested + "\nawait h()", "gradcheck")


@given(st.text(max_size=12))
def test_runs_is_an_integer_from_2_to_the_maximum_or_a_named_error(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    options = f"--runs {shlex.quote(text)}" if text.strip() else "--runs ''"
    if value is not None and 2 <= value <= MAX_RUNS and text.strip() == text:
        assert parse_options(DETERMINISM, "determinism", options).runs == value
    else:
        with pytest.raises(UsageError, match=r"^%determinism: .*--runs"):
            parse_options(DETERMINISM, "determinism", options)


@given(st.one_of(st.floats(), st.text(max_size=8)))
@example("-h")  # found by hypothesis: a help token anywhere asks for the usage
def test_max_snapshot_mb_is_finite_positive_or_a_named_error(value):
    text = repr(value) if isinstance(value, float) else value
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    options = f"--max-snapshot-mb {shlex.quote(text)}"
    if text in ("-h", "--help"):
        assert parse_options(DETERMINISM, "determinism", options) is None
        return
    try:
        args = parse_options(DETERMINISM, "determinism", options)
    except UsageError as error:
        assert str(error).startswith("%determinism: ")
        assert "--max-snapshot-mb" in str(error) or "cannot read the options" in str(error)
        assert not (math.isfinite(number) and 0 < number <= MAX_SNAPSHOT_MB) or "'" in text
    else:
        assert math.isfinite(args.max_snapshot_mb) and 0 < args.max_snapshot_mb <= MAX_SNAPSHOT_MB
