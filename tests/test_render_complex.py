"""Complex parameters: the renderers show both parts of analytic and numeric values."""

from __future__ import annotations

import numpy as np

from nbgrad import gradcheck
from nbgrad.report.html import render_html
from nbgrad.report.text import render_text


def _conjugated_report() -> dict:
    """|z|² has gradient 2z in nbgrad's convention (dC/dRe + i dC/dIm); 2·conj(z) is wrong."""
    z = np.array([1.0 + 2.0j, -0.5 + 0.25j])
    return gradcheck(lambda p: (float(np.sum(np.abs(p) ** 2)), 2 * np.conj(p)), z).to_dict()


def test_text_and_html_show_the_imaginary_part_that_is_wrong() -> None:
    report = _conjugated_report()
    assert not report["passed"]
    worst = report["blocks"][0]["worst"][0]
    analytic = complex(worst["analytic"], worst["analytic_imag"])
    numeric = complex(worst["numeric"], worst["numeric_imag"])
    assert np.isclose(analytic, np.conj(numeric))  # the two differ only in the imaginary sign
    sign = "-" if analytic.imag < 0 else "+"
    shown_analytic = f"{analytic.real:.6g}{sign}{abs(analytic.imag):.6g}j"
    assert shown_analytic in render_text(report)
    assert shown_analytic in render_html(report)
