"""The paper's cost model: Table I/II quantities, Eq. 1 energy score, Eq. 2 optimal g.

Table II describes one grouped conv with m input and n output maps, d_k x d_k filters,
an h x w output and g groups:

    M_c = n m h w d_k^2 / g        P = n m d_k^2 / g
    A   = (n + m) h w               AI = M_c / (P + A)

Eq. 1 scores energy as M_c^(1 - beta) * (A + P)^beta: beta weighs memory traffic
against arithmetic. Setting that score to a hardware constant gamma and solving for g
gives Eq. 2, g = m n d_k^2 (h w)^(1 - beta) / gamma. :func:`fit_cost_model` calibrates
beta and gamma to EPF measured on the user's own GPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gsearch.errors import GsearchError

if TYPE_CHECKING:
    from torch import nn

    from gsearch.layers import LayerSpec


class HasCost(Protocol):
    """A per-layer row with Table II totals, e.g. :class:`gsearch.count.LayerRow`."""

    @property
    def macs(self) -> int: ...
    @property
    def activations(self) -> int: ...
    @property
    def params(self) -> int: ...


@dataclass(frozen=True)
class GConvCost:
    """Table II for one grouped conv (per image).

    Attributes:
        macs: M_c, multiply-accumulates.
        params: P, filter weights.
        activations: A, input plus output feature-map elements.
        ai: Arithmetic intensity M_c / (P + A), MACs per element moved.
    """

    macs: float
    params: float
    activations: float
    ai: float


def gconv_cost(m: int, n: int, dk: int, h: int, w: int, g: int = 1) -> GConvCost:
    """Table II quantities (g = 1 gives Table I's standard convolution)."""
    macs = n * m * h * w * dk * dk / g
    params = n * m * dk * dk / g
    activations = float((n + m) * h * w)
    return GConvCost(macs, params, activations, macs / (params + activations))


def layer_cost(layer: LayerSpec, g: int) -> GConvCost:
    """Table II quantities of a grouped layer of a model under ``g`` groups."""
    return gconv_cost(
        layer.in_channels, layer.out_channels, layer.kernel, layer.out_h, layer.out_w, g
    )


def energy_score(macs: float, activations: float, params: float, beta: float = 0.5) -> float:
    """Eq. 1: M_c^(1 - beta) * (A + P)^beta, a relative energy in model units (not joules)."""
    if not 0 < beta <= 1:
        raise GsearchError(f"beta must lie in (0, 1], got beta={beta}")
    return float(macs ** (1 - beta) * (activations + params) ** beta)


def optimal_groups(layer: LayerSpec, beta: float, gamma: float) -> float:
    """Eq. 2, unrounded: g = m n d_k^2 (h w)^(1 - beta) / gamma."""
    area = layer.out_h * layer.out_w
    return layer.in_channels * layer.out_channels * layer.kernel**2 * area ** (1 - beta) / gamma


def optimal_group_size(layer: LayerSpec, beta: float, gamma: float) -> float:
    """G = m / g for Eq. 2's g; Eq. 4 says it is constant under channel doubling."""
    return layer.in_channels / optimal_groups(layer, beta, gamma)


@dataclass(frozen=True)
class Calibration:
    """beta and gamma fitted to measured EPF on one GPU.

    Attributes:
        beta: Weight of memory traffic in Eq. 1.
        gamma: Eq. 2's constant for this network on this GPU.
        scale: EPF per unit of the Eq. 1 score summed over layers (measured units).
        rms_log_error: Root-mean-square of log(measured / predicted EPF).
    """

    beta: float
    gamma: float
    scale: float
    rms_log_error: float


def network_score(rows: Sequence[HasCost], beta: float = 0.5) -> float:
    """Eq. 1 summed over the layers of a network (e.g. ``count.layer_rows(model)``)."""
    return sum(energy_score(row.macs, row.activations, row.params, beta) for row in rows)


def fit_cost_model(
    networks: Sequence[Sequence[HasCost]],
    epf: Sequence[float],
    best_layers: Sequence[tuple[LayerSpec, int]],
    beta_steps: int = 1000,
) -> Calibration:
    """Fit beta and gamma to measured EPF by least squares in log space.

    beta: EPF_i ~ scale * sum over layers of Eq. 1; for each beta on a fine grid of
    (0, 1] the best log(scale) is the mean residual, and beta minimises the squared log
    residuals. gamma: Eq. 2 is log-linear in gamma, so given beta the least-squares
    gamma over the layers of the lowest-EPF network measured is the geometric mean of
    m n d_k^2 (h w)^(1 - beta) / g.

    Args:
        networks: Per measured network, its layer rows (``count.layer_rows(model)``).
        epf: The measured EPF of each network (any positive unit, e.g. mJ).
        best_layers: The grouped layers of the lowest-EPF network with their g.
        beta_steps: Resolution of the beta grid.

    Returns:
        The fitted calibration.
    """
    if len(networks) != len(epf) or len(epf) < 2:
        raise GsearchError(
            f"fitting needs at least 2 networks with one EPF each, got {len(networks)} "
            f"networks and {len(epf)} EPF values"
        )
    if any(value <= 0 for value in epf) or not best_layers:
        raise GsearchError("fitting needs positive EPF values and the best network's layers")
    log_epf = [math.log(value) for value in epf]
    best: tuple[float, float, float] | None = None
    for step in range(1, beta_steps + 1):
        beta = step / beta_steps
        log_score = [math.log(network_score(rows, beta)) for rows in networks]
        log_scale = sum(e - s for e, s in zip(log_epf, log_score, strict=True)) / len(epf)
        error = sum((e - s - log_scale) ** 2 for e, s in zip(log_epf, log_score, strict=True))
        if best is None or error < best[0]:
            best = (error, beta, log_scale)
    assert best is not None
    error, beta, log_scale = best
    log_gamma = sum(
        math.log(optimal_groups(layer, beta, 1.0) / g) for layer, g in best_layers
    ) / len(best_layers)
    return Calibration(
        beta=beta,
        gamma=math.exp(log_gamma),
        scale=math.exp(log_scale),
        rms_log_error=math.sqrt(error / len(epf)),
    )


# ---------------------------------------------------------------- Eq. 1 per frame at a batch
# For a batch of B frames a layer does B times the MACs and moves B times the activations
# but reads its P weights once, so the per-frame score at batch B is
#     sum over layers of (B*M_c)^(1-beta) * (B*A + P)^beta / B
# which is exactly Eq. 1 at B = 1 and falls with B as weight reuse grows.
def score_per_frame(rows: Sequence[HasCost], batch: int = 1, beta: float = 0.5) -> float:
    """Eq. 1 summed over ``rows`` for one frame of a batch of ``batch``, model units.

    Args:
        rows: Per-layer Table II totals for one image (e.g. ``count.layer_rows(model)``).
        batch: Frames per step; weights are shared by the batch.
        beta: Eq. 1's weight of memory traffic, in (0, 1].
    """
    if batch < 1:
        raise GsearchError(f"batch must be >= 1, got {batch}")
    total = sum(
        energy_score(batch * row.macs, batch * row.activations, row.params, beta) for row in rows
    )
    return total / batch


def model_score_per_frame(
    model: nn.Module, resolution: int = 224, batch: int = 1, beta: float = 0.5
) -> float:
    """Eq. 1 score per frame of a built model (a meta-device model costs nothing to count)."""
    from gsearch.count import layer_rows  # count builds on this module's quantities

    return score_per_frame(layer_rows(model, resolution), batch, beta)
