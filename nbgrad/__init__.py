"""nbgrad: gradient checks and determinism checks for hand-written numpy/CuPy networks.

``nbgrad.gradcheck`` and ``nbgrad.check_determinism`` are the Python API;
``%load_ext nbgrad`` adds the ``%gradcheck`` and ``%determinism`` magics.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# The subpackages and the functions share their names on purpose
# (``nbgrad.gradcheck(...)``); importing the functions last rebinds the
# package attributes to them.  Neither import pulls in IPython or widgets.
from nbgrad.determinism import check_determinism
from nbgrad.gradcheck import gradcheck

__all__ = ["__version__", "check_determinism", "gradcheck", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics: ``%load_ext nbgrad``."""
    from nbgrad.magics import NbgradMagics

    ipython.register_magics(NbgradMagics)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "nbgrad"}]
