"""Gradient checking: is a hand-written gradient right, and if not, where, what kind, how sure.

``gradcheck(fun, params, ...)`` (see :mod:`nbgrad.gradcheck.api`) is the whole
public interface; the modules behind it each do one job:

- :mod:`~nbgrad.gradcheck.params`: parameters as named blocks of real
  coordinates, perturbed in place, restored bit for bit;
- :mod:`~nbgrad.gradcheck.evaluate`: counted, validated calls of ``fun``;
- :mod:`~nbgrad.gradcheck.analytic`: the user's gradient, checked and cut
  into blocks;
- :mod:`~nbgrad.gradcheck.steps`: step sizes and tolerances per dtype and
  element; :mod:`~nbgrad.gradcheck.noise`: the cost's noise floor;
- :mod:`~nbgrad.gradcheck.numeric`: finite differences;
  :mod:`~nbgrad.gradcheck.compare`: relative errors with a floor;
- :mod:`~nbgrad.gradcheck.full` and :mod:`~nbgrad.gradcheck.fast`: the two
  checking strategies;
- :mod:`~nbgrad.gradcheck.diagnoses`: what kind of wrong, one table of rules;
  :mod:`~nbgrad.gradcheck.taylor`: the Taylor test; :mod:`~nbgrad.gradcheck.summary`,
  :mod:`~nbgrad.gradcheck.heatmap`, :mod:`~nbgrad.gradcheck.curve`: the report.

The package imports neither IPython nor ipywidgets.
"""

from __future__ import annotations

from nbgrad.gradcheck.api import gradcheck

__all__ = ["gradcheck"]
