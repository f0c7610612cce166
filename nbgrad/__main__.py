"""``python -m nbgrad``: see :mod:`nbgrad.cli`."""

from nbgrad.cli import main

raise SystemExit(main())
