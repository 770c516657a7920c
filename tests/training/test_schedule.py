from __future__ import annotations

import pytest
import torch

from gsearch.training import FULL, PROXY
from gsearch.training.schedule import advance, learning_rate, lr_scheduler


def _optimizer() -> torch.optim.SGD:
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)


@pytest.mark.parametrize("recipe", [FULL.with_(epochs=4, step_epochs=1), PROXY.with_(epochs=4)])
def test_the_scheduler_follows_learning_rate_step_by_step(recipe: object) -> None:
    steps = 5
    optimizer = _optimizer()
    scheduler = lr_scheduler(optimizer, recipe, steps)  # type: ignore[arg-type]
    seen = []
    for _ in range(4 * steps):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        advance(scheduler)
    expected = [learning_rate(recipe, s, steps) for s in range(4 * steps)]  # type: ignore[arg-type]
    assert seen == pytest.approx(expected)


def test_a_resumed_scheduler_continues_where_the_run_stopped() -> None:
    recipe = PROXY.with_(epochs=4)
    optimizer = _optimizer()
    optimizer.param_groups[0]["lr"] = 123.0  # what a loaded optimiser state holds
    lr_scheduler(optimizer, recipe, 5, start_step=12)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(learning_rate(recipe, 12, 5))


def test_advancing_before_any_optimiser_step_is_silent(recwarn: pytest.WarningsRecorder) -> None:
    optimizer = _optimizer()
    advance(lr_scheduler(optimizer, PROXY, 5))  # a first step skipped for a non-finite loss
    assert not [w for w in recwarn if "lr_scheduler.step" in str(w.message)]
