"""`python -m gsearch.cli`: the `gsearch` command (local workers start it so)."""

from __future__ import annotations

import sys

from gsearch.cli import main

if __name__ == "__main__":
    sys.exit(main())
