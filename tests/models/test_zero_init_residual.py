from __future__ import annotations

import torch

from gsearch.models import create_model, init_residuals_as_identity


def _last_bn_gammas(model: torch.nn.Module) -> list[float]:
    return [float(m.bn3.weight.detach().abs().sum()) for m in model.modules() if hasattr(m, "bn3")]


def test_the_builder_flag_starts_every_bottleneck_as_an_identity() -> None:
    flagged = create_model("resnext50", policy="g=32", num_classes=10, zero_init_residual=True)
    plain = create_model("resnext50", policy="g=32", num_classes=10)
    assert len(_last_bn_gammas(flagged)) == 16 and set(_last_bn_gammas(flagged)) == {0.0}
    assert all(gamma > 0 for gamma in _last_bn_gammas(plain))


def test_networks_without_residual_blocks_are_unchanged() -> None:
    torch.manual_seed(0)
    flagged = create_model("mobilenet_v1", policy="G=8", num_classes=10, zero_init_residual=True)
    torch.manual_seed(0)
    plain = create_model("mobilenet_v1", policy="G=8", num_classes=10)
    for (name, a), (_, b) in zip(
        flagged.state_dict().items(), plain.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    assert init_residuals_as_identity(plain) == 0
