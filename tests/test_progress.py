from __future__ import annotations

import io

from rich.console import Console

from gsearch.progress import progress_bar


def test_the_bar_shows_description_fields_and_count() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    with progress_bar("loss {task.fields[loss]:.2f}", console=console, count=True) as bar:
        task = bar.add_task("train epoch 1/2", total=4, loss=0.0)
        bar.update(task, advance=3, loss=1.25)
    text = out.getvalue()
    assert "train epoch 1/2" in text and "loss 1.25" in text and "3/4" in text


def test_quiet_draws_nothing() -> None:
    out = io.StringIO()
    with progress_bar(console=Console(file=out), quiet=True) as bar:
        bar.add_task("x", total=1)
    assert out.getvalue() == ""
