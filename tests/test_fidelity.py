from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from scipy.stats import kendalltau as scipy_kendalltau

from gsearch import fidelity
from gsearch.data import SubsetSpec
from gsearch.errors import GsearchError
from gsearch.fidelity import check_fidelity, kendall_tau, reference_recipe
from gsearch.training import PROXY, SeedSummary, TrainMetrics

TINY_PROXY = PROXY.with_(
    name="tiny-proxy",
    epochs=1,
    batch_size=16,
    resolution=16,
    subset=SubsetSpec(num_classes=3, images_per_class=16, val_images_per_class=12),
)


def test_kendall_tau_extremes_and_ties() -> None:
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 1, 1], [1, 2, 3]) is None
    assert kendall_tau([1.0], [2.0]) is None
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1])


def test_kendall_tau_matches_scipy_tau_b_with_ties() -> None:
    rng = random.Random(3)
    for _ in range(20):
        x = [rng.choice([90.0, 91.5, 93.0, 95.0]) for _ in range(9)]
        y = [rng.choice([88.0, 92.0, 96.0]) for _ in range(9)]
        expected = scipy_kendalltau(x, y).statistic
        assert kendall_tau(x, y) == pytest.approx(expected)


def _fake_train(reference_top1: dict[str, float], proxy_top1: dict[tuple[str, int], float]):
    """Stand-ins for the training calls: top-1 by policy (and seed for the proxy)."""

    def metrics(top1: float, seconds: float) -> TrainMetrics:
        return TrainMetrics(top1, 100.0, 0.1, 0.1, 1, seconds, 1000.0)

    def fake_seeds(build, data, recipe, *, seeds, **_):  # type: ignore[no-untyped-def]
        model = build()
        policy = next(p for p in reference_top1 if model.policy_string == p)  # type: ignore[attr-defined]
        run = metrics(proxy_top1[(policy, seeds[0])], 2.0)
        return SeedSummary(run.top1, 0.0, tuple(seeds), (run.top1,), (run,), run.seconds)

    def fake_train(model, data, recipe, **_):  # type: ignore[no-untyped-def]
        return metrics(reference_top1[model.policy_string], 20.0)

    return fake_seeds, fake_train


@pytest.fixture
def tagged_models(monkeypatch: pytest.MonkeyPatch) -> None:
    real = fidelity.create_model

    def create(name: str, policy: str, num_classes: int):  # type: ignore[no-untyped-def]
        model = real(name, policy=policy, num_classes=num_classes)
        model.policy_string = policy
        return model

    monkeypatch.setattr(fidelity, "create_model", create)


@pytest.mark.usefixtures("tagged_models")
def test_report_arithmetic(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = {"G=1": 90.0, "G=4": 80.0, "G=16": 70.0}
    proxy = {("G=1", 0): 85.0, ("G=1", 1): 88.0, ("G=1", 2): 86.0}
    proxy |= {("G=4", s): v for s, v in zip((0, 1, 2), (70.0, 79.0, 75.0), strict=True)}
    proxy |= {("G=16", s): v for s, v in zip((0, 1, 2), (81.0, 71.0, 72.0), strict=True)}
    fake_seeds, fake_train = _fake_train(reference, proxy)
    monkeypatch.setattr(fidelity, "train_proxy_seeds", fake_seeds)
    monkeypatch.setattr(fidelity, "train", fake_train)
    report = check_fidelity("digits", None, "tiny_convnet", list(reference), proxy=TINY_PROXY)
    rows = {row.policy: row for row in report.rows}
    assert rows["G=1"].proxy_top1s == (85.0, 88.0, 86.0)
    assert rows["G=1"].proxy_median_top1 == 86.0 and rows["G=1"].proxy_spread_top1 == 3.0
    assert rows["G=4"].gap_top1 == pytest.approx(-5.0)
    assert rows["G=16"].proxy_median_top1 == 72.0 and rows["G=16"].proxy_spread_top1 == 10.0
    assert report.kendall_tau == pytest.approx(1.0)
    assert report.max_seed_spread == 10.0 and report.max_abs_gap == pytest.approx(5.0)
    assert report.cost_ratio == pytest.approx(0.1)
    assert report.reference_spread_top1 == 20.0 and report.tau_meaningful
    assert report.one_image_points == pytest.approx(100 / 36)
    assert report.to_dict()["max_seed_spread"] == 10.0


@pytest.mark.usefixtures("tagged_models")
def test_tau_is_flagged_when_the_reference_spread_is_within_one_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_image = 100 / 36
    reference = {"G=1": 90.0, "G=4": 90.0 + one_image, "G=16": 90.0}
    proxy = {(p, s): 50.0 + i for (i, p), s in itertools.product(enumerate(reference), (0, 1))}
    fake_seeds, fake_train = _fake_train(reference, proxy)
    monkeypatch.setattr(fidelity, "train_proxy_seeds", fake_seeds)
    monkeypatch.setattr(fidelity, "train", fake_train)
    report = check_fidelity(
        "digits", None, "tiny_convnet", list(reference), proxy=TINY_PROXY, seeds=(0, 1)
    )
    assert report.kendall_tau is not None
    assert not report.tau_meaningful


def test_real_check_on_digits_trains_and_resumes(tmp_path: Path) -> None:
    seen: list[tuple[str, str, int]] = []
    reference = reference_recipe(TINY_PROXY, epochs=2)
    report = check_fidelity(
        "digits",
        None,
        "tiny_convnet",
        ["G=1", "G=16"],
        proxy=TINY_PROXY,
        reference=reference,
        seeds=(0, 1),
        checkpoint_dir=tmp_path,
        on_run=lambda policy, kind, seed, _: seen.append((policy, kind, seed)),
    )
    assert seen == [
        ("G=1", "proxy", 0), ("G=1", "proxy", 1), ("G=1", "reference", 0),
        ("G=16", "proxy", 0), ("G=16", "proxy", 1), ("G=16", "reference", 0),
    ]  # fmt: skip
    assert report.proxy_val_images == report.reference_val_images == 36
    for row in report.rows:
        assert len(row.proxy_top1s) == 2
        assert row.proxy_spread_top1 == max(row.proxy_top1s) - min(row.proxy_top1s)
        assert row.gap_top1 == pytest.approx(row.proxy_median_top1 - row.reference_top1)
        assert row.params_m > 0 and row.reference_s > 0
    assert len(list((tmp_path / "G%3D16").glob("reference-reference-2ep-*/last.pt"))) == 1
    again = check_fidelity(
        "digits", None, "tiny_convnet", ["G=1", "G=16"],
        proxy=TINY_PROXY, reference=reference, seeds=(0, 1), checkpoint_dir=tmp_path,
    )  # fmt: skip
    assert again.rows == report.rows


def test_dataset_smaller_than_the_proxy_subset_names_both_numbers() -> None:
    too_many_classes = PROXY.with_(subset=SubsetSpec(num_classes=20))
    with pytest.raises(GsearchError, match="asks for 20 classes but dataset 'digits' has 10"):
        check_fidelity("digits", policies=["G=1"], model="tiny_convnet", proxy=too_many_classes)
    too_many_images = PROXY.with_(subset=SubsetSpec(images_per_class=1000))
    with pytest.raises(GsearchError, match=r"asks for 1000 training images per class .* has 14\d"):
        check_fidelity("digits", policies=["G=1"], model="tiny_convnet", proxy=too_many_images)


def test_no_policy_or_seed_is_refused() -> None:
    with pytest.raises(GsearchError, match="at least one policy"):
        check_fidelity(policies=[])
    with pytest.raises(GsearchError, match="at least one seed"):
        check_fidelity(seeds=())
