from __future__ import annotations

import math

import pytest
import torch

from gsearch.costmodel import (
    energy_score,
    fit_cost_model,
    gconv_cost,
    network_score,
    optimal_group_size,
    optimal_groups,
)
from gsearch.count import layer_rows
from gsearch.errors import GsearchError
from gsearch.models import create_model, layer_specs
from gsearch.policies import ConstantGroupSize, CostModel


def test_table_ii_on_the_fig3_setting() -> None:
    # Fig. 3: n = m = 512, 3x3 filters, 14x14 maps, normalised to DWConv (g = 512).
    m = n = 512
    dwconv = gconv_cost(m, n, 3, 14, 14, g=512)
    for g in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512):
        cost = gconv_cost(m, n, 3, 14, 14, g)
        assert cost.macs / dwconv.macs == pytest.approx(512 / g)
        assert cost.params == n * m * 9 / g
        assert cost.activations == (n + m) * 14 * 14  # A does not depend on g
        closed_form = n * m * 14 * 14 * 9 / (n * m * 9 + g * (n + m) * 14 * 14)
        assert cost.ai == pytest.approx(closed_form)
    ais = [gconv_cost(m, n, 3, 14, 14, g).ai for g in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)]
    assert ais == sorted(ais, reverse=True)
    assert gconv_cost(m, n, 3, 14, 14, 1).ai == pytest.approx(180.63, abs=0.01)
    assert dwconv.ai == pytest.approx(4.40, abs=0.01)


def test_eq1_and_eq2_are_consistent() -> None:
    # At the g of Eq. 2, the score without A equals gamma.
    spec = layer_specs("resnext50")[5]
    beta, gamma = 0.4, 3e5
    g = optimal_groups(spec, beta, gamma)
    cost = gconv_cost(spec.in_channels, spec.out_channels, 3, spec.out_h, spec.out_w, 1)
    assert energy_score(cost.macs / g, 0.0, cost.params / g, beta) == pytest.approx(gamma)
    with pytest.raises(GsearchError):
        energy_score(1, 1, 1, beta=0)


def test_eq4_constant_group_size_under_channel_doubling() -> None:
    # ResNeXt-50: the 3x3 width doubles exactly where the map halves -> one G everywhere.
    sizes = [optimal_group_size(s, 0.5, 1e5) for s in layer_specs("resnext50")]
    assert max(sizes) / min(sizes) == pytest.approx(1.0)
    # MobileNet-V1 halves the map in the grouped conv and doubles channels in the pointwise
    # conv after it, so G alternates between two values, each the same in every stage.
    specs = layer_specs("mobilenet_v1")
    sizes = [optimal_group_size(s, 0.5, 1e5) for s in specs]
    assert len({round(s, 9) for s in sizes}) == 2
    for spec, size in zip(specs, sizes, strict=True):
        assert size * spec.in_channels * spec.out_h == pytest.approx(sizes[0] * 32 * 112)
    # Another beta breaks the invariance.
    other = [optimal_group_size(s, 0.2, 1e5) for s in layer_specs("resnext50")]
    assert max(other) / min(other) > 1.5


def test_cost_model_policy_with_beta_half_is_e2gc_on_resnext() -> None:
    specs = layer_specs("resnext50")
    gamma = 128 * 128 * 9 * 56 / 16  # Eq. 2 gives g = 16 on the first layer -> G = 8
    assert CostModel(0.5, gamma).groups(specs) == ConstantGroupSize(8).groups(specs)


def _rows(policy: str) -> list:
    with torch.device("meta"):
        return layer_rows(create_model("mobilenet_v1", policy), 224)


def test_fit_recovers_beta_and_gamma_from_model_generated_epf() -> None:
    policies = ["G=1", "G=4", "G=32", "g=2", "g=8", "g=32"]
    networks = [_rows(p) for p in policies]
    true_beta, scale = 0.37, 2.5e-3
    epf = [scale * network_score(rows, true_beta) for rows in networks]
    best = min(range(len(epf)), key=epf.__getitem__)
    specs = layer_specs("mobilenet_v1")
    groups = (
        ConstantGroupSize(int(policies[best][2:])).groups(specs) if "G" in policies[best] else None
    )
    assert groups is not None
    fit = fit_cost_model(networks, epf, list(zip(specs, groups, strict=True)))
    assert fit.beta == pytest.approx(true_beta, abs=1e-3)
    assert fit.scale == pytest.approx(scale, rel=1e-2)
    assert fit.rms_log_error < 1e-2
    # gamma reproduces the best network's groups through Eq. 2 (least squares in log g).
    log_gap = [
        math.log(optimal_groups(s, fit.beta, fit.gamma) / g)
        for s, g in zip(specs, groups, strict=True)
    ]
    assert sum(log_gap) == pytest.approx(0.0, abs=1e-6)


def test_fit_needs_two_networks() -> None:
    with pytest.raises(GsearchError, match="at least 2 networks"):
        fit_cost_model([_rows("G=1")], [1.0], [])
