"""One rich progress bar for long work: description, bar, the caller's fields, time.

>>> with progress_bar("loss {task.fields[loss]:.3f}", quiet=False) as bar:
...     task = bar.add_task("train", total=100, loss=0.0)
...     bar.update(task, advance=1, loss=0.5)

``quiet`` turns it off (tests, JSON output, workers); a counter (``12/40``) and the
time remaining are opt-in because unknown totals make them noise.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_bar(
    *fields: str | ProgressColumn,
    quiet: bool = False,
    console: Console | None = None,
    count: bool = False,
    remaining: bool = False,
    transient: bool = False,
) -> Progress:
    """A :class:`rich.progress.Progress` laid out the same way everywhere.

    Args:
        *fields: Extra columns after the bar; a string is a format of ``task``
            (``"loss {task.fields[loss]:.3f}"``).
        quiet: Show nothing.
        console: Where to draw; ``None`` is rich's default console (stdout).
        count: Show ``completed/total``.
        remaining: Show the estimated time remaining.
        transient: Remove the bar when done.
    """
    columns: list[str | ProgressColumn] = [TextColumn("[bold]{task.description}"), BarColumn()]
    if count:
        columns.append(MofNCompleteColumn())
    columns.extend(TextColumn(field) if isinstance(field, str) else field for field in fields)
    columns.append(TimeElapsedColumn())
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, disable=quiet, transient=transient)
