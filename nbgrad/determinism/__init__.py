"""Determinism checking: rerun a training cell, find the first divergence and its cause.

The core imports neither IPython nor widgets; the ``%%determinism`` magic in
``nbgrad.magics`` is a thin wrapper around :func:`check_determinism`.
"""

from __future__ import annotations

from nbgrad.determinism.api import check_determinism

__all__ = ["check_determinism"]
