"""``python -m genhmr``: see :mod:`genhmr.cli`."""

from genhmr.cli import main

raise SystemExit(main())
