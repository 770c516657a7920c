from __future__ import annotations

import torch
from torch import nn

from gsearch.count import count_model, layer_rows


def test_rows_follow_table_ii_for_a_grouped_conv() -> None:
    model = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(16))
    (row,) = layer_rows(model, resolution=10, in_channels=8)
    assert (row.m, row.n, row.g, row.G, row.dk, row.h, row.w) == (8, 16, 4, 2, 3, 10, 10)
    assert row.macs == 16 * 8 * 9 * 100 // 4
    assert row.params == 16 * 8 * 9 // 4
    assert row.activations == (8 + 16) * 100
    assert row.ai == row.macs / (row.params + row.activations)


def test_batchnorm_is_excluded_from_params_but_not_from_params_with_bn() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2)
    )
    model(torch.zeros(1, 3, 5, 5))
    counts = count_model(model, resolution=5)
    conv, linear = 4 * 3 * 9 + 4, 4 * 9 * 2 + 2
    assert counts.params == conv + linear
    assert counts.params_with_bn == conv + linear + 2 * 4
    assert counts.macs == 4 * 3 * 9 * 9 + 36 * 2


def test_counting_restores_training_mode_and_touches_no_statistics() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model.train()
    before = model[1].running_mean.clone()
    count_model(model, resolution=8)
    assert model.training
    assert torch.equal(model[1].running_mean, before)
