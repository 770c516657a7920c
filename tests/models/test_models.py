from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from gsearch.count import count_model, layer_rows
from gsearch.errors import GsearchError
from gsearch.models import create_model, layer_specs, list_models, register_model
from gsearch.policies import ConstantGroupSize
from gsearch.table import PAPER_POLICIES

# The paper's Tables III and IV, as exact counts (params without BN, with BN, MACs at 224).
EXPECTED = {
    ("mobilenet_v1", "G=1"): (4_210_088, 4_231_976, 568_740_352),
    ("mobilenet_v1", "G=2"): (4_254_728, 4_276_616, 586_126_336),
    ("mobilenet_v1", "G=4"): (4_344_008, 4_365_896, 620_898_304),
    ("mobilenet_v1", "G=8"): (4_522_568, 4_544_456, 690_442_240),
    ("mobilenet_v1", "G=16"): (4_879_688, 4_901_576, 829_530_112),
    ("mobilenet_v1", "G=32"): (5_593_928, 5_615_816, 1_107_705_856),
    ("mobilenet_v1", "g=2"): (16_722_248, 16_744_136, 2_690_056_192),
    ("mobilenet_v1", "g=4"): (10_443_848, 10_465_736, 1_620_705_280),
    ("mobilenet_v1", "g=8"): (7_304_648, 7_326_536, 1_086_029_824),
    ("mobilenet_v1", "g=16"): (5_735_048, 5_756_936, 818_692_096),
    ("mobilenet_v1", "g=32"): (4_950_248, 4_972_136, 685_023_232),
    ("resnext50", "G=1"): (23_613_992, 23_682_216, 4_024_105_984),
    ("resnext50", "G=2"): (23_681_960, 23_750_184, 4_048_943_104),
    ("resnext50", "G=4"): (23_817_896, 23_886_120, 4_098_617_344),
    ("resnext50", "G=8"): (24_089_768, 24_157_992, 4_197_965_824),
    ("resnext50", "G=16"): (24_633_512, 24_701_736, 4_396_662_784),
    ("resnext50", "G=32"): (25_721_000, 25_789_224, 4_794_056_704),
    ("resnext50", "g=2"): (46_180_520, 46_248_744, 7_698_644_992),
    ("resnext50", "g=4"): (34_863_272, 34_931_496, 5_848_956_928),
    ("resnext50", "g=8"): (29_204_648, 29_272_872, 4_924_112_896),
    ("resnext50", "g=16"): (26_375_336, 26_443_560, 4_461_690_880),
    ("resnext50", "g=32"): (24_960_680, 25_028_904, 4_230_479_872),
}

# As printed in the paper: params in millions; MACs in millions (MobileNet) / billions (ResNeXt).
PRINTED = {
    "mobilenet_v1": [
        (4.20, 568.74), (4.25, 586.13), (4.34, 620.90), (4.52, 690.44), (4.87, 829.53),
        (5.59, 1107.71), (16.72, 2690.06), (10.44, 1620.71), (7.30, 1086.03), (5.73, 818.69),
        (4.95, 685.02),
    ],
    "resnext50": [
        (23.61, 4.02), (23.68, 4.05), (23.82, 4.10), (24.09, 4.20), (24.63, 4.40), (25.72, 4.80),
        (46.18, 7.70), (34.86, 5.85), (29.20, 4.92), (26.37, 4.46), (24.96, 4.23),
    ],
}  # fmt: skip

VARIANTS = sorted(EXPECTED)


def meta_model(name: str, policy: str, **kwargs: object) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, policy, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "policy"), VARIANTS)
def test_counts_match_the_paper_exactly(name: str, policy: str) -> None:
    counts = count_model(meta_model(name, policy))
    assert (counts.params, counts.params_with_bn, counts.macs) == EXPECTED[name, policy]


@pytest.mark.parametrize("name", ["mobilenet_v1", "resnext50"])
def test_counts_lie_within_the_papers_printed_rounding(name: str) -> None:
    macs_unit = 1e6 if name == "mobilenet_v1" else 1e9
    for policy, (params_m, macs) in zip(PAPER_POLICIES, PRINTED[name], strict=True):
        exact_params, _, exact_macs = EXPECTED[name, policy]
        if (name, policy) == ("mobilenet_v1", "G=1"):
            # The paper quotes the original MobileNet paper's "4.2M" here (4.21M exactly).
            assert round(exact_params / 1e6, 1) == params_m
        else:
            assert abs(exact_params / 1e6 - params_m) <= 0.01 + 1e-9, policy
        assert abs(exact_macs / macs_unit - macs) <= 0.01 + 1e-9, policy


def test_resnext50_g32_has_torchvision_layer_shapes() -> None:
    ours = create_model("resnext50", "g=32")
    theirs = torchvision.models.resnext50_32x4d()
    our_shapes = [tuple(p.shape) for p in ours.parameters()]
    their_shapes = [tuple(p.shape) for p in theirs.parameters()]
    assert our_shapes == their_shapes
    our_convs = [(m.stride, m.groups) for m in ours.modules() if isinstance(m, nn.Conv2d)]
    their_convs = [(m.stride, m.groups) for m in theirs.modules() if isinstance(m, nn.Conv2d)]
    assert our_convs == their_convs
    # torchvision's state dict loads into ours name for name.
    ours.load_state_dict(theirs.state_dict())


@pytest.mark.parametrize("name", ["mobilenet_v1", "resnext50", "tiny_convnet"])
@pytest.mark.parametrize("resolution", [224, 100, 32])
def test_layer_specs_are_the_layers_the_model_runs(name: str, resolution: int) -> None:
    specs = layer_specs(name, resolution)
    model = meta_model(name, "G=1")
    rows = {row.name: row for row in layer_rows(model, resolution)}
    for spec in specs:
        row = rows[spec.name]
        assert (row.m, row.n, row.dk, row.h, row.w) == (
            spec.in_channels,
            spec.out_channels,
            spec.kernel,
            spec.out_h,
            spec.out_w,
        )
        assert row.g == spec.in_channels  # G=1 is depthwise


@pytest.mark.slow
@pytest.mark.parametrize(("name", "policy"), VARIANTS)
@pytest.mark.parametrize("resolution", [224, 32])
def test_forward_and_backward_reach_every_parameter(
    name: str, policy: str, resolution: int
) -> None:
    torch.manual_seed(0)
    model = create_model(name, policy, num_classes=10)
    out = model(torch.randn(2, 3, resolution, resolution))
    assert out.shape == (2, 10)
    out.logsumexp(1).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing


def test_width_shrinks_the_model_and_keeps_groups_valid() -> None:
    small = count_model(meta_model("mobilenet_v1", "G=8", width=0.25), 32)
    full = count_model(meta_model("mobilenet_v1", "G=8"), 32)
    assert small.params < full.params / 8
    specs = layer_specs("mobilenet_v1", 32, width=0.25)
    assert [s.in_channels for s in specs][:3] == [8, 16, 32]


def test_registry_rejects_duplicates_and_names_known_models() -> None:
    assert {"mobilenet_v1", "resnext50", "tiny_convnet"} <= set(list_models())
    with pytest.raises(ValueError, match="already registered"):
        register_model("resnext50", specs=lambda r, w: [], default_policy=ConstantGroupSize(1))(
            lambda groups, **kw: nn.Identity()
        )
    with pytest.raises(GsearchError, match="unknown model 'vgg'.*mobilenet_v1, resnext50"):
        create_model("vgg")


def test_defaults_are_the_original_networks() -> None:
    assert count_model(meta_model("mobilenet_v1", None)).macs == EXPECTED["mobilenet_v1", "G=1"][2]
    assert count_model(meta_model("resnext50", None)).macs == EXPECTED["resnext50", "g=32"][2]


def test_cost_model_policy_builds_with_valid_groups() -> None:
    model = meta_model("resnext50", "beta=0.5,gamma=1e6")
    groups = [m.groups for n, m in model.named_modules() if n.endswith("conv2")]
    assert len(groups) == 16
    assert all(128 * 2 ** (i // 4) % g == 0 for i, g in enumerate(groups))
