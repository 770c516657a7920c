"""A trial's EPF is `gsearch profile`'s EPF; the cache knows networks, not spellings."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from optuna.trial import FrozenTrial

from gsearch.energy import EpfCache, EpfProtocol, StepConfig
from gsearch.energy.meter_lock import MeterLock
from gsearch.errors import GsearchError
from gsearch.policies import parse_policy
from gsearch.profile import profile
from gsearch.search import Architecture, run_search
from gsearch.search.loop import FRONT_EPF_ATTR
from gsearch.search.probe import MeasuredEnergy, open_measured_energy
from gsearch.search.trainer import RecipeTrainer
from tests.search.conftest import QUICK, SPACE, MakeConfig


def test_a_trials_epf_is_what_gsearch_profile_measures(config: MakeConfig, tmp_path: Path) -> None:
    space = SPACE.replace("[1, 2, 4, 8]", "[4]").replace("[4, 8]", "[4]")
    result = run_search(config(trials=1, epf_resolution=48, space_text=space))
    (trial,) = result.study.trials
    assert trial.user_attrs["epf_resolution"] == 48
    report = profile("tiny_convnet", ["G=4"], [4], energy="model", resolution=48, num_classes=10,
                     cache_dir=None, repeats=1, window_s=0.05)  # fmt: skip
    (row,) = report.rows
    assert trial.values[0] == pytest.approx(row.result.epf, rel=1e-12)


def test_the_front_is_measured_again_together_at_the_end(config: MakeConfig) -> None:
    result = run_search(config())
    record = result.study.user_attrs[FRONT_EPF_ATTR]
    rows = record["rows"]
    # every front trial, and every trial tied with the front, measured together
    assert {str(t.number) for t in result.front} <= set(rows)
    assert set(rows) == {str(n) for n in record["candidates"]}
    assert record["complete_trials"] == len(result.study.trials)
    assert all(entry["interleaved_with"] == len(rows) for entry in rows.values())
    for trial in result.front:  # the model score is exact: the same value again
        assert rows[str(trial.number)]["epf"] == pytest.approx(trial.values[0])


def test_two_spellings_of_one_network_are_measured_once(config: MakeConfig, tmp_path: Path) -> None:
    # G=16 and one G of 16 per layer build the same network (g = 1, 2, 4).
    space = SPACE.replace('kind = "group_size"', 'kind = "list"').replace(
        "[1, 2, 4, 8]", '["G=16", "layers=16,16,16"]'
    )
    result = run_search(config(trials=2, space_text=space))
    trials = sorted(result.study.trials, key=lambda t: t.user_attrs["policy"])
    assert [t.user_attrs["policy"] for t in trials] == ["G=16", "layers=16,16,16"]
    assert trials[0].user_attrs["arch"] == trials[1].user_attrs["arch"]
    assert sorted(t.user_attrs["epf_cached"] for t in trials) == [False, True]
    assert trials[0].values == trials[1].values


def test_the_protocol_version_changed_with_the_window_fix() -> None:
    # Rows measured with version 1's windows (before 6bbc01d) must not come back cached.
    assert EpfProtocol().key()["version"] >= 2


def test_the_probes_step_precision_and_protocol_are_profiles(
    config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model score ignores the step, so compare what each hands the protocol.
    import gsearch.profile
    import gsearch.search.probe

    seen: dict[str, list[tuple[StepConfig, EpfProtocol | None]]] = {"run": [], "profile": []}
    real = gsearch.search.probe.measure_candidates

    def spy(into: str) -> Any:
        def measure(session: Any, candidates: Any, batches: Any, step: Any, protocol: Any,
                    **kw: Any) -> Any:  # fmt: skip
            seen[into].append((replace(step, batch=1), protocol))
            return real(session, candidates, batches, step, protocol, **kw)

        return measure

    monkeypatch.setattr(gsearch.search.probe, "measure_candidates", spy("run"))
    monkeypatch.setattr(gsearch.profile, "measure_candidates", spy("profile"))
    space = SPACE.replace("[1, 2, 4, 8]", "[4]").replace("[4, 8]", "[4]")
    run_search(config(trials=1, epf_resolution=48, precision="bf16", epf_protocol=None,
                      space_text=space))  # fmt: skip
    profile("tiny_convnet", ["G=4"], [4], energy="model", resolution=48, num_classes=10,
            precision="bf16", cache_dir=None)  # fmt: skip
    run_step, run_protocol = seen["run"][0]
    profile_step, profile_protocol = seen["profile"][0]
    assert run_step == profile_step and run_step.precision == "bf16"
    assert run_protocol == profile_protocol


def test_the_front_measured_again_never_reads_the_cache(
    config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = config(trials=2)
    result = run_search(made)  # fills the cache
    assert list((tmp_path / "cache").rglob("*.json"))
    monkeypatch.setattr(EpfCache, "get", lambda *a: pytest.fail("remeasure read the EPF cache"))
    probe = open_measured_energy("model", "cpu", QUICK, [4, 8], 32, "fp32", made.cache_dir)
    try:
        archs = [_architecture(t, probe.resolution) for t in result.front]
        rows = probe.remeasure(archs)
    finally:
        probe.session.close()
    assert len(rows) == len(archs) and not any(row.cached for row in rows)


def _architecture(trial: FrozenTrial, resolution: int) -> Architecture:
    attrs = trial.user_attrs
    classes = int(attrs["arch"].rsplit("classes=", 1)[1])
    policy = parse_policy(attrs["policy"])
    return Architecture(attrs["model"], policy, tuple(attrs["groups"]), classes, resolution)


def test_a_measured_search_holds_its_meter_reuses_a_network_and_measures_the_front_again(
    config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The time meter, as on a machine without an energy counter; no cache, so the copy
    # of a network (G=16 and one G of 16 per layer build the same one) is measured
    # again and gets an EPF of its own, while its training is the original's.
    meter = f"host-{socket.gethostname()}"
    trained: list[str] = []
    real_train = RecipeTrainer.train

    def train(self: RecipeTrainer, arch: Architecture, *args: Any) -> Any:
        with pytest.raises(GsearchError, match="in use by another gsearch process"):
            MeterLock(meter).__enter__()  # the run holds its meter while it trains
        trained.append(str(arch.policy))
        return real_train(self, arch, *args)

    measured_again: list[int] = []
    real_remeasure = MeasuredEnergy.remeasure

    def remeasure(self: MeasuredEnergy, archs: Any) -> Any:
        rows = real_remeasure(self, archs)
        measured_again.append(len(archs))
        assert all(row.unit == "ms" and row.epf and row.epf > 0 for row in rows)
        return rows

    monkeypatch.setattr(RecipeTrainer, "train", train)
    monkeypatch.setattr(MeasuredEnergy, "remeasure", remeasure)
    space = SPACE.replace('kind = "group_size"', 'kind = "list"').replace(
        "[1, 2, 4, 8]", '["G=16", "layers=16,16,16", "G=1"]'
    )
    result = run_search(config(trials=3, energy="time", cache_dir=None, space_text=space))
    study = result.study
    assert study.metric_names[0] == "ms_per_frame"
    assert len(trained) == 2 and "G=1" in trained  # the network of G=16 is trained once
    (copy,) = [t for t in study.trials if "reused_from" in t.user_attrs]
    original = study.trials[copy.user_attrs["reused_from"]]
    assert copy.user_attrs["arch"] == original.user_attrs["arch"]
    assert copy.values[1] == original.values[1] and not copy.user_attrs["epf_cached"]
    assert copy.user_attrs["energy_source"] == "time" and copy.values[0] > 0
    assert measured_again and measured_again[-1] >= 1  # the front, measured again together
    archs = [t.user_attrs["arch"] for t in result.front]
    assert len(archs) == len(set(archs))  # a network stands on the front once at most
    with MeterLock(meter):  # released when the run ended
        pass
