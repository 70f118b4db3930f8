"""``python -m unetseg``: the same as the ``unetseg`` command."""

from unetseg.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
