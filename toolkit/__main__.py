"""``python -m toolkit``: the analysis report (see :mod:`toolkit.cli`)."""

from .cli import main

raise SystemExit(main())
