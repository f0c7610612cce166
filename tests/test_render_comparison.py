"""The CuPy-versus-numpy comparison: notes and errors reach every renderer."""

from __future__ import annotations

import numpy as np

from nbgrad import check_determinism
from nbgrad.report.html import render_html
from nbgrad.report.text import render_text


def test_a_numpy_only_cell_says_the_gap_is_zero_by_construction() -> None:
    report = check_determinism("for i in range(3):\n    W = np.sqrt(W + i)\n",
                               {"np": np, "W": np.ones(3)}, compare_numpy=True).to_dict()
    note = report["comparison"]["note"]
    assert "zero by construction" in note
    assert note in render_text(report)
    assert note in render_html(report)
