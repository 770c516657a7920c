"""The paper's params and top-1 for its 11 variants per model: reference marks on the plots.

Tables III and IV of the paper, as printed (params truncated to two decimals, 1000
classes). ``gsearch table`` recomputes the params exactly; here the printed numbers
are read because counting 11 networks would cost the report seconds. The paper's EPF
(``gsearch.energy.paper_epf``) is from other GPUs and is never plotted against a
measured EPF.
"""

from __future__ import annotations

from dataclasses import dataclass

# The order of gsearch.table.PAPER_POLICIES, written out: importing it would load torch.
_POLICIES = ("G=1", "G=2", "G=4", "G=8", "G=16", "G=32", "g=2", "g=4", "g=8", "g=16", "g=32")
# model -> params (millions), and top-1 % per dataset, in _POLICIES order.
_PARAMS_M: dict[str, tuple[float, ...]] = {
    "mobilenet_v1": (4.20, 4.25, 4.34, 4.52, 4.87, 5.59, 16.72, 10.44, 7.30, 5.73, 4.95),
    "resnext50": (23.61, 23.68, 23.82, 24.09, 24.63, 25.72, 46.18, 34.86, 29.20, 26.37, 24.96),
}
_TOP1: dict[str, dict[str, tuple[float, ...]]] = {
    "mobilenet_v1": {
        "imagenet": (70.65, 72.76, 72.24, 71.85, 71.18, 72.76, 74.43, 73.59, 73.34, 72.60, 72.20),
        "food101": (79.96, 80.48, 80.23, 80.03, 79.79, 79.69, 78.60, 79.06, 79.60, 80.03, 80.13),
    },
    "resnext50": {
        "imagenet": (74.43, 77.04, 77.22, 77.60, 77.64, 77.45, 77.58, 77.62, 77.64, 77.72, 77.80),
        "food101": (82.62, 82.78, 82.72, 82.10, 82.03, 81.46, 78.03, 78.16, 78.88, 80.00, 80.05),
    },
}
DATASET_WORDS = {"imagenet": "ImageNet-1K", "food101": "Food-101"}
TABLE_OF = {"mobilenet_v1": "Table III", "resnext50": "Table IV"}


@dataclass(frozen=True)
class PaperVariant:
    """One row of the paper's table: a policy, its params and its top-1 on a dataset."""

    model: str
    policy: str
    params_m: float
    top1: float
    dataset: str  # imagenet or food101


def paper_variants(model: str, dataset: str | None) -> list[PaperVariant]:
    """The paper's 11 variants of ``model``; none for a model the paper did not train.

    Top-1 is the paper's on ``dataset`` when it reported that dataset (ImageNet-1K or
    Food-101), else its ImageNet-1K figure.
    """
    if model not in _PARAMS_M:
        return []
    column = dataset if dataset in _TOP1[model] else "imagenet"
    return [
        PaperVariant(model, policy, params_m, top1, column)
        for policy, params_m, top1 in zip(
            _POLICIES, _PARAMS_M[model], _TOP1[model][column], strict=True
        )
    ]
