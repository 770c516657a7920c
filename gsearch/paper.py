"""The paper's Tables III and IV, in one place: params, MACs, EPF on P100/P4000, top-1.

E2GC (Tables III and IV): MobileNet-V1 and ResNeXt-50 under 11 group settings each,
six of constant group size (E2GC, ``G=...``) and five of constant groups (FgGC,
``g=...``). EPF is millijoules per frame of one forward and one backward pass, measured
with nvidia-smi at batch 1, 4 and 16 on other GPUs than the user's: data to compare
with, never a substitute for a measurement. Params and MACs are as printed (rounded to
two decimals; ``gsearch table`` recomputes them exactly). Top-1 is on ImageNet-1K and
Food-101. This module imports nothing heavy, so report code may read it freely.
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER_POLICIES: tuple[str, ...] = (
    "G=1", "G=2", "G=4", "G=8", "G=16", "G=32", "g=2", "g=4", "g=8", "g=16", "g=32",
)  # fmt: skip
"""The 11 variants per model, in the tables' order: E2GC then FgGC."""

PAPER_SAMPLE: tuple[str, ...] = ("G=1", "G=8", "G=32", "g=2", "g=32", "g=16", "g=8")
"""Variants of both kinds, in the order a short check samples them (the first five that
fit a model): the ends and the middle of E2GC, then of FgGC."""

PAPER_BATCHES: tuple[int, ...] = (1, 4, 16)
PAPER_GPUS: tuple[str, ...] = ("P100", "P4000")
PAPER_DATASETS: tuple[str, ...] = ("imagenet", "food101")
TABLE_OF = {"mobilenet_v1": "Table III", "resnext50": "Table IV"}
MACS_UNIT = {"mobilenet_v1": 1e6, "resnext50": 1e9}
"""The tables print MACs in millions for MobileNet-V1, in billions for ResNeXt-50."""


@dataclass(frozen=True)
class PaperRow:
    """One row of Table III or IV.

    Attributes:
        model: ``mobilenet_v1`` or ``resnext50``.
        policy: ``G=...`` or ``g=...``.
        params_m: Parameters in millions, as printed.
        macs: MACs as printed, in :data:`MACS_UNIT` of the model.
        epf_mj: GPU -> EPF in mJ per frame at :data:`PAPER_BATCHES`.
        top1: Dataset -> top-1 in percent.
    """

    model: str
    policy: str
    params_m: float
    macs: float
    epf_mj: dict[str, tuple[int, int, int]]
    top1: dict[str, float]


# policy, params (M), MACs, EPF P100 (B=1, 4, 16), EPF P4000 (B=1, 4, 16), top-1 ImageNet, Food-101
_Printed = tuple[str, float, float, tuple[int, int, int], tuple[int, int, int], float, float]
_TABLES: dict[str, tuple[_Printed, ...]] = {
    "mobilenet_v1": (  # Table III, MACs in millions
        ("G=1", 4.20, 568.74, (689, 630, 613), (1607, 1448, 1373), 70.65, 79.96),
        ("G=2", 4.25, 586.13, (538, 482, 450), (1169, 1014, 983), 72.76, 80.48),
        ("G=4", 4.34, 620.90, (421, 357, 330), (1005, 846, 816), 72.24, 80.23),
        ("G=8", 4.52, 690.44, (373, 316, 302), (780, 630, 592), 71.85, 80.03),
        ("G=16", 4.87, 829.53, (370, 284, 277), (689, 551, 507), 71.18, 79.79),
        ("G=32", 5.59, 1107.71, (363, 281, 265), (648, 501, 480), 72.76, 79.69),
        ("g=2", 16.72, 2690.06, (476, 388, 383), (785, 673, 631), 74.43, 78.60),
        ("g=4", 10.44, 1620.71, (402, 327, 312), (706, 572, 551), 73.59, 79.06),
        ("g=8", 7.30, 1086.03, (372, 297, 281), (704, 561, 550), 73.34, 79.60),
        ("g=16", 5.73, 818.69, (384, 308, 292), (719, 598, 591), 72.60, 80.03),
        ("g=32", 4.95, 685.02, (418, 334, 321), (811, 698, 647), 72.20, 80.13),
    ),
    "resnext50": (  # Table IV, MACs in billions
        ("G=1", 23.61, 4.02, (2185, 1248, 712), (5780, 2371, 1434), 74.43, 82.62),
        ("G=2", 23.68, 4.05, (1921, 1000, 678), (4661, 2109, 1347), 77.04, 82.78),
        ("G=4", 23.82, 4.10, (1476, 804, 667), (3431, 1674, 1292), 77.22, 82.72),
        ("G=8", 24.09, 4.20, (1162, 742, 631), (2337, 1318, 1152), 77.60, 82.10),
        ("G=16", 24.63, 4.40, (1132, 722, 619), (2220, 1251, 1080), 77.64, 82.03),
        ("G=32", 25.72, 4.80, (1088, 694, 597), (2063, 1189, 1049), 77.45, 81.46),
        ("g=2", 46.18, 7.70, (1485, 878, 695), (2702, 1572, 1276), 77.58, 78.03),
        ("g=4", 34.86, 5.85, (1241, 761, 638), (2181, 1391, 1155), 77.62, 78.16),
        ("g=8", 29.20, 4.92, (1142, 730, 612), (2055, 1302, 1129), 77.64, 78.88),
        ("g=16", 26.37, 4.46, (1131, 722, 624), (2106, 1295, 1117), 77.72, 80.00),
        ("g=32", 24.96, 4.23, (1204, 766, 687), (2310, 1356, 1200), 77.80, 80.05),
    ),
}


def paper_models() -> list[str]:
    """Models the paper measured."""
    return sorted(_TABLES)


def paper_rows(model: str) -> list[PaperRow]:
    """The 11 rows of ``model``'s table in :data:`PAPER_POLICIES` order; none for other models."""
    return [
        PaperRow(
            model,
            policy,
            params_m,
            macs,
            {"P100": p100, "P4000": p4000},
            {"imagenet": imagenet, "food101": food101},
        )
        for policy, params_m, macs, p100, p4000, imagenet, food101 in _TABLES.get(model, ())
    ]


def paper_row(model: str, policy: str) -> PaperRow | None:
    """The row of ``policy`` (canonical string, e.g. ``G=32``) in ``model``'s table, if any."""
    return next((row for row in paper_rows(model) if row.policy == policy), None)


def paper_epf_mj(model: str, policy: str, batch: int, gpu: str) -> float | None:
    """The paper's EPF for one row, mJ per frame; None where the paper has no number.

    Args:
        model: ``mobilenet_v1`` or ``resnext50``.
        policy: Canonical policy string, e.g. ``G=32`` or ``g=8``.
        batch: 1, 4 or 16.
        gpu: ``P100`` or ``P4000``.
    """
    row = paper_row(model, policy)
    if row is None or batch not in PAPER_BATCHES or gpu not in row.epf_mj:
        return None
    return float(row.epf_mj[gpu][PAPER_BATCHES.index(batch)])
