from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from gsearch.data import DatasetBundle, SubsetSpec, get_dataset
from gsearch.errors import GsearchError
from gsearch.models import create_model
from gsearch.models import init_residuals_as_identity as zero_init_residual
from gsearch.training import (
    CHECKPOINT_NAME,
    FULL,
    PROXY,
    EpochRecord,
    Recipe,
    WeightAverage,
    evaluate,
    get_recipe,
    learning_rate,
    prepare_data,
    recipe_tag,
    train,
    train_proxy_seeds,
)

FAST = PROXY.with_(name="fast", epochs=2, batch_size=32, eval_each_epoch=True)


@pytest.fixture(scope="module")
def digits16() -> DatasetBundle:
    return get_dataset("digits", resolution=16)


@pytest.fixture(scope="module")
def small_digits() -> DatasetBundle:
    return get_dataset(
        "digits", resolution=16, subset=SubsetSpec(images_per_class=20, val_images_per_class=10)
    )


@pytest.fixture
def imagenet_root(tmp_path: Path) -> Path:
    """Three classes of four real 24x24 JPEGs each, in train/ and val/."""
    for split in ("train", "val"):
        for c, wnid in enumerate(("n01440764", "n01443537", "n01484850")):
            folder = tmp_path / split / wnid
            folder.mkdir(parents=True)
            for i in range(4):
                colour = (60 * c, 40 * i, 200 - 30 * i)
                Image.new("RGB", (24, 24), colour).save(folder / f"{wnid}_{i}.JPEG")
    return tmp_path


def tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return create_model("tiny_convnet", policy="G=1", num_classes=10)


def test_full_recipe_is_the_papers() -> None:
    assert FULL.fidelity == "full"
    assert (FULL.lr, FULL.momentum, FULL.nesterov, FULL.weight_decay) == (0.1, 0.9, True, 4e-5)
    assert (FULL.schedule, FULL.step_epochs, FULL.step_gamma, FULL.epochs) == ("step", 30, 0.1, 90)
    assert PROXY.fidelity == "proxy" and PROXY.epochs == 9
    assert (PROXY.momentum, PROXY.nesterov, PROXY.weight_decay) == (0.9, True, 4e-5)


def test_step_schedule_divides_by_ten_every_30_epochs() -> None:
    steps = 10
    assert learning_rate(FULL, 0, steps) == pytest.approx(0.1)
    assert learning_rate(FULL, 30 * steps - 1, steps) == pytest.approx(0.1)
    assert learning_rate(FULL, 30 * steps, steps) == pytest.approx(0.01)
    assert learning_rate(FULL, 89 * steps, steps) == pytest.approx(0.001)


def test_warmup_then_cosine() -> None:
    recipe = PROXY.with_(epochs=4, warmup_epochs=1.0, lr=0.2)
    steps = 5
    warm = [learning_rate(recipe, s, steps) for s in range(5)]
    assert warm == pytest.approx([0.04, 0.08, 0.12, 0.16, 0.2])
    assert learning_rate(recipe, 5, steps) == pytest.approx(0.2)
    middle = 5 + 15 // 2
    assert learning_rate(recipe, middle, steps) == pytest.approx(
        0.1 * (1 + math.cos(math.pi * 7 / 15))
    )
    assert learning_rate(recipe, 19, steps) < 0.01


def test_weight_average_moves_floats_by_one_minus_decay() -> None:
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    average = WeightAverage(model, decay=0.75)
    before = {k: v.clone() for k, v in average.model.state_dict().items()}
    for _ in range(2):  # the live tensors are followed across in-place updates
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.add_(4.0)
        model.train()(torch.randn(8, 2))  # BatchNorm statistics move too
        average.update()
        now = model.state_dict()
        for name, value in average.model.state_dict().items():
            if value.dtype.is_floating_point:
                expected = 0.75 * before[name] + 0.25 * now[name]
                assert torch.allclose(value, expected), name
                before[name] = expected
    assert not any(p.requires_grad for p in average.model.parameters())


def test_training_with_weight_averaging_evaluates_the_average(
    small_digits: DatasetBundle,
) -> None:
    # With a decay of nearly 1 the average stays at the initial weights: the reported
    # top-1 is near chance (10 classes), where the last weights have learned.
    recipe = FAST.with_(epochs=6)
    averaged = train(tiny(seed=3), small_digits, recipe.with_(ema_decay=1 - 1e-9), quiet=True)
    last = train(tiny(seed=3), small_digits, recipe, quiet=True)
    assert averaged.top1 < 30 < 60 < last.top1


def test_weight_average_recalibrates_batchnorm_over_a_whole_pass() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    images = torch.randn(40, 3, 6, 6) * 3 + 1
    data = torch.utils.data.TensorDataset(images, torch.zeros(40, dtype=torch.long))
    average = WeightAverage(model, decay=0.5)
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    average.recalibrate(loader, torch.device("cpu"), torch.contiguous_format)
    norm = average.model[1]
    assert isinstance(norm, nn.BatchNorm2d) and not average.model.training
    assert norm.momentum == 0.1  # restored after the cumulative pass
    with torch.no_grad():
        features = average.model[0](images)
    # the mean of the five batch means: the whole pass's mean, not the last batches'
    assert torch.allclose(norm.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-5)


def test_recipe_validation_names_the_field() -> None:
    with pytest.raises(GsearchError, match="ema_decay must be in \\(0, 1\\) or None, got 1.5"):
        PROXY.with_(ema_decay=1.5)
    with pytest.raises(GsearchError, match="recipe 'proxy': epochs must be >= 1, got 0"):
        PROXY.with_(epochs=0)
    with pytest.raises(GsearchError, match="amp must be off, bf16 or fp16, got 'fp8'"):
        PROXY.with_(amp="fp8")
    with pytest.raises(GsearchError, match="unknown recipe 'long'"):
        get_recipe("long")
    with pytest.raises(GsearchError, match="bad recipe override"):
        get_recipe("proxy", epoch=3)
    assert get_recipe("full", batch_size=64).batch_size == 64


def test_training_learns_digits_and_reports_metrics(digits16: DatasetBundle) -> None:
    seen: list[EpochRecord] = []
    metrics = train(tiny(), digits16, FAST.with_(epochs=3), quiet=True, on_epoch_end=seen.append)
    assert metrics.top1 > 85.0
    assert metrics.top5 >= metrics.top1
    assert metrics.epochs == 3 and len(metrics.history) == 3 and len(seen) == 3
    assert seen[-1].top1 == metrics.top1
    assert metrics.seconds > 0 and metrics.images_per_second > 0
    assert metrics.history[0].train_loss > metrics.history[-1].train_loss
    assert metrics.resumed_from_epoch == 0 and metrics.skipped_steps == 0


def test_evaluate_counts_top1_and_top5() -> None:
    data = get_dataset("synthetic", num_classes=10, train_size=4, val_size=20, resolution=4)

    class Fixed(nn.Module):
        # Ranks classes by (label + 2) % 10 first: the true label is the 3rd guess.
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(x.shape[0], 10)

    top1, top5, loss = evaluate(Fixed(), data)
    assert loss == pytest.approx(math.log(10))
    assert top5 == pytest.approx(50.0)  # all-zero logits: topk takes classes 0..4
    assert top1 == pytest.approx(10.0)  # and top-1 is class 0: every 10th label


def test_top5_with_fewer_than_five_classes_is_complete() -> None:
    data = get_dataset("synthetic", num_classes=3, train_size=6, val_size=6, resolution=8)
    model = create_model("tiny_convnet", policy="G=1", num_classes=3)
    _, top5, _ = evaluate(model, data)
    assert top5 == 100.0


@pytest.mark.parametrize("ema_decay", [None, 0.9])
def test_killed_run_resumes_and_matches_an_uninterrupted_one(
    small_digits: DatasetBundle, tmp_path: Path, ema_decay: float | None
) -> None:
    recipe = FAST.with_(epochs=3, ema_decay=ema_decay)
    straight = train(tiny(), small_digits, recipe, quiet=True)

    class Killed(Exception):
        pass

    def kill_after_first(record: EpochRecord) -> None:
        if record.epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train(
            tiny(),
            small_digits,
            recipe,
            checkpoint_dir=tmp_path,
            quiet=True,
            on_epoch_end=kill_after_first,
        )
    assert (tmp_path / CHECKPOINT_NAME).exists()
    # A fresh process would build the model from another seed: resuming must not care.
    resumed = train(tiny(seed=99), small_digits, recipe, checkpoint_dir=tmp_path, quiet=True)
    assert resumed.resumed_from_epoch == 1
    assert [r.epoch for r in resumed.history] == [1, 2, 3]
    assert resumed.top1 == straight.top1
    assert [r.train_loss for r in resumed.history] == pytest.approx(
        [r.train_loss for r in straight.history]
    )
    # Started once more, the finished run returns its stored result without training.
    again = train(tiny(seed=5), small_digits, recipe, checkpoint_dir=tmp_path, quiet=True)
    assert again.resumed_from_epoch == 3 and again.top1 == straight.top1
    assert again.seconds == resumed.seconds


def test_checkpoint_of_another_run_is_refused(small_digits: DatasetBundle, tmp_path: Path) -> None:
    train(tiny(), small_digits, FAST.with_(epochs=1), checkpoint_dir=tmp_path, quiet=True)
    with pytest.raises(GsearchError, match="belongs to a different run"):
        train(
            tiny(), small_digits, FAST.with_(epochs=1, lr=0.05), checkpoint_dir=tmp_path, quiet=True
        )
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"garbage")
    with pytest.raises(GsearchError, match="cannot read checkpoint"):
        train(tiny(), small_digits, FAST.with_(epochs=1), checkpoint_dir=tmp_path, quiet=True)


def test_checkpoint_write_is_atomic(
    small_digits: DatasetBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recipe = FAST.with_(epochs=2)
    calls = {"n": 0}
    real_save = torch.save

    def save_then_die_on_second(obj: object, f: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            f.write(b"half a checkpoint")  # type: ignore[attr-defined]
            raise KeyboardInterrupt
        real_save(obj, f)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "save", save_then_die_on_second)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(), small_digits, recipe, checkpoint_dir=tmp_path, quiet=True)
    monkeypatch.setattr(torch, "save", real_save)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]
    resumed = train(tiny(), small_digits, recipe, checkpoint_dir=tmp_path, quiet=True)
    assert resumed.resumed_from_epoch == 1 and resumed.epochs == 2


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_autocast_and_channels_last_train(small_digits: DatasetBundle, amp: str) -> None:
    # with the weight average too: its BatchNorm pass runs under the same autocast
    recipe = FAST.with_(epochs=1, amp=amp, channels_last=True, ema_decay=0.9)
    metrics = train(tiny(), small_digits, recipe, quiet=True)
    assert 0.0 <= metrics.top1 <= 100.0 and math.isfinite(metrics.train_loss)
    assert metrics.skipped_steps == 0


def test_progress_bar_runs_when_not_quiet(
    small_digits: DatasetBundle, capsys: pytest.CaptureFixture[str]
) -> None:
    train(tiny(), small_digits, FAST.with_(epochs=1), quiet=False)
    assert "fast epoch 1/1" in capsys.readouterr().out


def test_zero_init_residual_on_resnext() -> None:
    model = create_model("resnext50", policy="g=32", num_classes=10)
    assert zero_init_residual(model) == 16
    assert all(
        float(m.bn3.weight.detach().abs().sum()) == 0 for m in model.modules() if hasattr(m, "bn3")
    )
    assert zero_init_residual(tiny()) == 0


def test_proxy_over_seeds_gives_median_and_spread(
    small_digits: DatasetBundle, tmp_path: Path
) -> None:
    summary = train_proxy_seeds(
        lambda: create_model("tiny_convnet", policy="G=4", num_classes=10),
        small_digits,
        FAST.with_(epochs=1),
        seeds=(0, 1, 2),
        checkpoint_dir=tmp_path,
    )
    assert summary.seeds == (0, 1, 2) and len(summary.runs) == 3
    assert summary.median_top1 == sorted(summary.top1s)[1]
    assert summary.spread_top1 == max(summary.top1s) - min(summary.top1s)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed-0", "seed-1", "seed-2"]


def test_corrupt_image_during_training_is_one_line_naming_it(imagenet_root: Path) -> None:
    # Every image is decoded before a run starts; one that breaks afterwards (a disk
    # error, a file replaced under a running job) still ends training in one line.
    bad = imagenet_root / "train" / "n01443537" / "n01443537_1.JPEG"
    data = get_dataset("imagenet", imagenet_root, resolution=16)
    bad.write_bytes(bad.read_bytes()[:150])
    model = create_model("tiny_convnet", policy="G=1", num_classes=3)
    for workers in (0, 1):
        recipe = FAST.with_(epochs=1, batch_size=4, num_workers=workers)
        with pytest.raises(GsearchError) as info:
            train(model, data, recipe, quiet=True)
        assert "\n" not in str(info.value)
        assert str(info.value).startswith("corrupt or unreadable image ")
        assert "n01443537_1.JPEG" in str(info.value)


def test_prepare_data_applies_the_proxy_defaults(imagenet_root: Path) -> None:
    with pytest.raises(GsearchError, match="asks for 100 classes but dataset 'imagenet' has 3"):
        prepare_data("imagenet", PROXY, imagenet_root)
    data = prepare_data("imagenet", PROXY.with_(subset=SubsetSpec(num_classes=2)), imagenet_root)
    assert data.resolution == 128 and data.num_classes == 2
    full = prepare_data("imagenet", FULL, imagenet_root)
    assert full.resolution == 224 and full.num_classes == 3
    assert prepare_data("digits", PROXY).resolution == 16
    assert prepare_data("digits", FULL).resolution == 32


def test_recipe_is_frozen() -> None:
    with pytest.raises(AttributeError):
        PROXY.epochs = 3  # type: ignore[misc]
    assert isinstance(PROXY, Recipe)


def test_recipe_tag_ignores_the_unset_weight_average() -> None:
    """Checkpoint folders named before ``ema_decay`` existed keep their names."""
    import hashlib
    import json
    from dataclasses import asdict

    fields = asdict(FULL)
    fields.pop("ema_decay")
    blob = json.dumps(fields, sort_keys=True, default=str)
    assert recipe_tag(FULL) == f"full-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"
    assert recipe_tag(FULL.with_(ema_decay=0.95)) != recipe_tag(FULL)


def test_a_checkpoint_loads_onto_the_cpu_whatever_the_device(
    small_digits: DatasetBundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a GPU, loading with map_location="cuda" made the RNG state a CUDA tensor, and
    # torch.set_rng_state (which needs a CPU ByteTensor) failed every resumed trial.
    import gsearch.training.checkpoint as training

    train(tiny(), small_digits, FAST.with_(epochs=1), checkpoint_dir=tmp_path, quiet=True)
    path = tmp_path / training.CHECKPOINT_NAME
    key = torch.load(path, weights_only=False)["run_key"]
    loads = []
    original = torch.load

    def spy(*args: object, **kwargs: object) -> object:
        loads.append(kwargs.get("map_location"))
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(training.torch, "load", spy)
    state = training.load_checkpoint(path, key)
    assert loads == ["cpu"]
    assert state["rng"]["torch"].device.type == "cpu"
    assert state["rng"]["torch"].dtype == torch.uint8


def test_recipe_overrides_are_typed_by_their_field() -> None:
    from gsearch.training import parse_recipe_overrides

    assert parse_recipe_overrides([("epochs", "3"), ("seeds", "0,1,2"), ("amp", "bf16"),
                                   ("grad_clip_norm", "none"), ("nesterov", "false")], PROXY) == {
        "epochs": 3, "seeds": (0, 1, 2), "amp": "bf16", "grad_clip_norm": None, "nesterov": False,
    }  # fmt: skip
    for key, text, message in [
        ("epochs", "1.5", "recipe field epochs: expected an integer, got '1.5'"),
        ("lr", "abc", "recipe field lr: expected a finite number, got 'abc'"),
        ("lr", "nan", "recipe field lr: expected a finite number"),
        ("nesterov", "maybe", "recipe field nesterov: expected true or false"),
        ("resolution", "1", "recipe field resolution: must be >= 8 pixels"),
        ("seeds", "0,0", "recipe field seeds: expected distinct integers"),
        ("amp", "fp8", "recipe field amp: expected one of off, bf16, fp16"),
        ("nope", "1", "recipe has no settable field 'nope'"),
    ]:
        with pytest.raises(GsearchError, match=message):
            parse_recipe_overrides([(key, text)], PROXY)
