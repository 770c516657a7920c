from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gsearch.errors import GsearchError
from gsearch.models import layer_specs
from gsearch.policies import (
    ConstantGroups,
    ConstantGroupSize,
    CostModel,
    LayerSpec,
    PerLayer,
    parse_policy,
    round_to_valid_groups,
    valid_group_sizes,
)

MOBILENET = layer_specs("mobilenet_v1")


@pytest.mark.parametrize(
    "text",
    ["G=8", "g=32", "beta=0.5,gamma=1e4", "beta=1,gamma=2.5e-5", "layers=1,2,4,8", "G=1"],
)
def test_canonical_strings_round_trip(text: str) -> None:
    assert str(parse_policy(text)) == text


@given(
    beta=st.floats(min_value=1e-6, max_value=1.0),
    gamma=st.floats(min_value=1e-12, max_value=1e15),
)
def test_cost_model_strings_round_trip_exactly(beta: float, gamma: float) -> None:
    policy = CostModel(beta, gamma)
    again = parse_policy(str(policy))
    assert again == policy
    assert str(again) == str(policy)


@given(sizes=st.lists(st.integers(min_value=1, max_value=4096), min_size=1, max_size=20))
def test_per_layer_strings_round_trip(sizes: list[int]) -> None:
    policy = PerLayer(tuple(sizes))
    assert parse_policy(str(policy)) == policy


@pytest.mark.parametrize(
    "text", ["", "G", "G=", "G=x", "G=2.5", "h=3", "beta=0.5", "beta=0.5,delta=3", "layers=1,,2"]
)
def test_malformed_strings_name_the_allowed_forms(text: str) -> None:
    with pytest.raises(GsearchError, match="malformed policy .*expected G=<int>"):
        parse_policy(text)


@pytest.mark.parametrize(
    "text", ["G=0", "g=-1", "beta=0,gamma=1", "beta=1.5,gamma=1", "beta=0.5,gamma=-2"]
)
def test_out_of_range_values_are_errors(text: str) -> None:
    with pytest.raises(GsearchError):
        parse_policy(text)


def test_constant_group_size_is_e2gc() -> None:
    groups = ConstantGroupSize(8).groups(MOBILENET)
    assert [spec.in_channels // g for spec, g in zip(MOBILENET, groups, strict=True)] == [8] * 13
    # G >= m gives a standard convolution, g = 1.
    assert ConstantGroupSize(64).groups(MOBILENET)[:2] == [1, 1]
    assert ConstantGroupSize(64).groups(MOBILENET)[2] == 2


def test_constant_groups_is_fggc() -> None:
    assert ConstantGroups(32).groups(MOBILENET) == [32] * 13


def test_group_size_that_fits_no_layer_names_layer_and_valid_values() -> None:
    with pytest.raises(GsearchError) as info:
        ConstantGroupSize(3).groups(MOBILENET)
    message = str(info.value)
    assert "blocks.0.grouped.0" in message and "m=32" in message
    assert "1, 2, 4, 8, 16, 32, 64" in message
    assert "\n" not in message


def test_groups_that_do_not_divide_are_an_error() -> None:
    with pytest.raises(GsearchError, match=r"g=64 does not fit layer blocks\.0.*valid g .* 32"):
        ConstantGroups(64).groups(MOBILENET)


def test_valid_group_sizes_respect_every_layer() -> None:
    layers = [LayerSpec("a", 12, 12, 3, 4, 4), LayerSpec("b", 24, 24, 3, 4, 4)]
    # G=5 divides neither; G=16 >= 12 gives g=1 on a but does not divide 24.
    assert valid_group_sizes(layers) == [1, 2, 3, 4, 6, 12, 24]


def test_cost_model_follows_eq2_and_rounds_on_a_log_scale() -> None:
    layer = LayerSpec("x", 64, 64, 3, 8, 8)
    # beta = 1: g = m n dk^2 / gamma, exactly 16 when gamma = 64*64*9/16.
    assert CostModel(1.0, 64 * 64 * 9 / 16).groups([layer]) == [16]
    # 12 lies nearer 16 than 8 on a log scale (12/8 = 1.5 > 16/12 = 1.33).
    assert round_to_valid_groups(12, layer) == 16
    # The geometric mean of 8 and 16 is a tie: fewer groups win.
    assert round_to_valid_groups((8 * 16) ** 0.5, layer) == 8
    # Clamped to the valid range.
    assert round_to_valid_groups(1e9, layer) == 64
    assert round_to_valid_groups(1e-9, layer) == 1


def test_cost_model_rounds_to_divisors_of_both_m_and_n() -> None:
    layer = LayerSpec("x", 48, 32, 3, 8, 8)  # gcd 16
    assert round_to_valid_groups(40, layer) == 16
    assert round_to_valid_groups(3, layer) == 4  # log scale: 4/3 < 3/2


def test_per_layer_applies_one_group_size_per_layer() -> None:
    sizes = (1, 2, 4, 8, 16, 32, 1, 2, 4, 8, 16, 32, 64)
    groups = PerLayer(sizes).groups(MOBILENET)
    assert groups[0] == 32 and groups[5] == 256 // 32 and groups[12] == 1024 // 64


def test_per_layer_wrong_length_and_misfit_are_errors() -> None:
    with pytest.raises(GsearchError, match="gives 2 group sizes but the model has 13"):
        PerLayer((1, 2)).groups(MOBILENET)
    with pytest.raises(GsearchError, match=r"blocks\.1.*G=3.*valid G there are 1, 2, 4"):
        PerLayer((1, 3) + (1,) * 11).groups(MOBILENET)
