"""Processes that open one storage at the same moment, as workers started together do."""

from __future__ import annotations

import subprocess
import sys

OPEN = "from gsearch.storage import open_storage; open_storage({url!r}); print('opened')"


def open_together(url: str, count: int = 4) -> None:
    """Start ``count`` processes that each open ``url``; all must succeed."""
    processes = [
        subprocess.Popen([sys.executable, "-c", OPEN.format(url=url)], text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(count)
    ]  # fmt: skip
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        assert out.strip() == "opened"
