"""A trial that fails for a reason that would repeat is kept with it; lost trials are retried,
a bounded number of times; the run says how many failed and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from gsearch.cli import main
from gsearch.search import run_search
from gsearch.search.failures import FAILURE_ATTR, MAX_LOST_RETRIES, failure_lines, requeue_lost
from gsearch.search.trainer import RecipeTrainer
from tests.search.conftest import SPACE, MakeConfig


def test_a_failure_that_repeats_is_kept_and_the_run_goes_on(
    config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = RecipeTrainer.train
    tried: list[str] = []

    def no_memory_for_g2(self: RecipeTrainer, arch: Any, *args: Any) -> Any:
        tried.append(str(arch.policy))
        if str(arch.policy) == "G=2":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\n(details)")
        return original(self, arch, *args)

    monkeypatch.setattr(RecipeTrainer, "train", no_memory_for_g2)
    result = run_search(config(trials=4))
    states = {t.user_attrs["policy"]: t.state for t in result.study.trials}
    assert states == {"G=1": TrialState.COMPLETE, "G=2": TrialState.FAIL,
                      "G=4": TrialState.COMPLETE, "G=8": TrialState.COMPLETE}  # fmt: skip
    (failed,) = [t for t in result.study.trials if t.state == TrialState.FAIL]
    assert failed.user_attrs[FAILURE_ATTR] == "CUDA out of memory. Tried to allocate 2.00 GiB"
    lines = failure_lines(result.study)
    assert lines[0].startswith("1 trial failed for a reason that would repeat")
    assert f"trial {failed.number} (tiny_convnet G=2): CUDA out of memory" in lines[1]
    # The rerun neither retries it nor adds another trial in its place.
    again = run_search(config(trials=4))
    assert len(again.study.trials) == 4 and tried.count("G=2") == 1


def test_the_shipped_failure_on_the_cli_once_with_its_reason_and_exit_1(
    config: MakeConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Batch 1 at 8 px: BatchNorm in training mode sees one value per channel (the paper
    # space's failure at 32 px), measured with the time meter as a CPU-only run does.
    space = tmp_path / "one.toml"
    space.write_text(
        SPACE.replace("epf_batch_sizes = [4, 8]", "epf_batch_sizes = [1]\nepf_resolution = 8")
    )
    argv = ["run", "--space", str(space), "--trials", "1", "--energy", "time", "--quiet",
            "--storage", f"sqlite:///{tmp_path}/cli.db", "--recipe", "epochs=1"]  # fmt: skip
    for _ in range(2):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "1 trial failed for a reason that would repeat" in err
        assert "Expected more than 1 value per channel when training" in err
        assert (
            err.strip().splitlines()[-1].startswith("error: study 'one-synthetic-proxy' holds no")
        )
    study = optuna.load_study(
        study_name="one-synthetic-proxy", storage=f"sqlite:///{tmp_path}/cli.db"
    )
    assert [t.state for t in study.trials] == [TrialState.FAIL]  # never a second failure


def _lost(study: optuna.Study, g: int, **attrs: Any) -> None:
    study.add_trial(create_trial(state=TrialState.FAIL, params={"G": g}, user_attrs=attrs,
                                 distributions={"G": CategoricalDistribution([1, 2, 4, 8])}))  # fmt: skip


def test_lost_trials_are_retried_a_bounded_number_of_times() -> None:
    study = optuna.create_study(directions=["minimize", "maximize", "minimize"])
    _lost(study, 1)  # Ctrl-C once: retried
    for _ in range(MAX_LOST_RETRIES + 1):
        _lost(study, 2)  # lost every time it ran: not again
    _lost(study, 4, failure="CUDA out of memory")  # would repeat: never
    assert requeue_lost(study) == 1
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [{"G": 1}]
    assert requeue_lost(study) == 0  # the retry is waiting: not enqueued twice
    (line, *_) = [line for line in failure_lines(study) if "lost" in line]
    assert f"lost to an interrupt or a dead worker {MAX_LOST_RETRIES + 1} times" in line
