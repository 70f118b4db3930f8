"""``python -m unetseg``: the same as the ``unetseg`` command."""

from unetseg.cli import main

raise SystemExit(main())
