"""How a magic line is cut into code and options, and how --blocks/--wrt are read."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nbgrad.errors import UsageError
from nbgrad.gradcheck.cell import split_names
from nbgrad.magics import parse_blocks, split_line

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
