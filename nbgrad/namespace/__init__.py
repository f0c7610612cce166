"""The notebook's state, shared by both engines: names, snapshots, user code, RNGs, patches.

- :mod:`~nbgrad.namespace.paths`: dotted names (``NN.AB``, ``params[0]``) that
  both name a value in a report and find it again after the cell rebinds it.
- :mod:`~nbgrad.namespace.snapshot`: everything a cell can change, recorded and
  put back bit for bit.
- :mod:`~nbgrad.namespace.usercode`: which code is the user's; cell sources in
  :mod:`linecache`; tracebacks without nbgrad's frames.
- :mod:`~nbgrad.namespace.rng`: random generator states.
- :mod:`~nbgrad.namespace.patch`: one patch-and-restore context manager.
- :mod:`~nbgrad.namespace.memory`: the memory a check may still use (cgroup-aware).
- :mod:`~nbgrad.namespace.sideeffects`: the working directory and the files written
  while the user's code is rerun.

This package imports neither engine (``nbgrad.gradcheck``, ``nbgrad.determinism``)
nor IPython.
"""
