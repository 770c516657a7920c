"""Params and MACs of a built model, in total and per layer (the paper's counting rule).

The paper counts parameters over conv and linear weights and biases, without
BatchNorm, and MACs over conv and linear layers. Shapes come from one forward pass
with hooks, so the counts describe the model as built, not a formula of it; pass a
model built under ``torch.device("meta")`` to count without allocating or computing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

COUNTED = (nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class Counts:
    """Whole-model totals.

    Attributes:
        params: Conv and linear weights and biases (BatchNorm excluded), the paper's rule.
        params_with_bn: Every parameter of the model, BatchNorm included.
        macs: Multiply-accumulates of one forward pass of one image.
    """

    params: int
    params_with_bn: int
    macs: int

    @property
    def params_m(self) -> float:
        """Params in millions, as the paper's tables print them."""
        return self.params / 1e6


@dataclass(frozen=True)
class LayerRow:
    """One conv or linear layer in Table I/II terms, for one image.

    Attributes:
        name: Module path.
        m: Input channels (features for a linear layer).
        n: Output channels.
        g: Number of groups.
        G: Group size m / g.
        dk: Kernel size (1 for a linear layer).
        h: Output height.
        w: Output width.
        macs: Multiply-accumulates, M_c.
        params: Weights and biases, P.
        activations: Input plus output feature-map elements, A (ifmaps + ofmaps).
        ai: Arithmetic intensity M_c / (P + A).
    """

    name: str
    m: int
    n: int
    g: int
    G: int
    dk: int
    h: int
    w: int
    macs: int
    params: int
    activations: int
    ai: float


def _weights(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


def layer_rows(model: nn.Module, resolution: int = 224, in_channels: int = 3) -> list[LayerRow]:
    """Table I/II quantities of every conv and linear layer, in execution order.

    Args:
        model: Any model; it is run once in eval mode on a zero image and restored.
        resolution: Height and width of the square input, pixels.
        in_channels: Channels of the input image.
    """
    rows: list[LayerRow] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x = inputs[0]
        params = _weights(module)
        if isinstance(module, nn.Conv2d):
            m, n, g = module.in_channels, module.out_channels, module.groups
            dk = module.kernel_size[0]
            h, w = output.shape[-2], output.shape[-1]
            macs = h * w * n * (m // g) * module.kernel_size[0] * module.kernel_size[1]
        else:
            assert isinstance(module, nn.Linear)
            m, n, g, dk, h, w = module.in_features, module.out_features, 1, 1, 1, 1
            macs = m * n
        activations = x[0].numel() + output[0].numel()
        rows.append(
            LayerRow(
                name=names[module],
                m=m,
                n=n,
                g=g,
                G=m // g,
                dk=dk,
                h=int(h),
                w=int(w),
                macs=int(macs),
                params=params,
                activations=int(activations),
                ai=macs / (params + activations),
            )
        )

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, COUNTED)]
    was_training = model.training
    try:
        parameter = next(model.parameters())
        image = torch.zeros(1, in_channels, resolution, resolution, device=parameter.device)
        model.eval()
        with torch.no_grad():
            model(image)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows


def count_model(model: nn.Module, resolution: int = 224, in_channels: int = 3) -> Counts:
    """Params (without and with BatchNorm) and MACs of one image at ``resolution``."""
    rows = layer_rows(model, resolution, in_channels)
    counted = {id(p) for m in model.modules() if isinstance(m, COUNTED) for p in m.parameters()}
    params = sum(p.numel() for p in model.parameters() if id(p) in counted)
    return Counts(
        params=params,
        params_with_bn=sum(p.numel() for p in model.parameters()),
        macs=sum(row.macs for row in rows),
    )
