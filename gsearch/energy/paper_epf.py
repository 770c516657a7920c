"""The paper's measured EPF (Tables III and IV): millijoules per frame on P100 and P4000.

The paper measured one forward and one backward pass with nvidia-smi at batch sizes
1, 4 and 16. ``gsearch profile --paper`` prints these beside the EPF measured on the
user's GPU; they are data to compare with, never a substitute for a measurement.
"""

from __future__ import annotations

PAPER_BATCHES: tuple[int, ...] = (1, 4, 16)
PAPER_GPUS: tuple[str, ...] = ("P100", "P4000")

# model -> policy -> gpu -> (EPF at B=1, B=4, B=16), mJ per frame.
_TABLES: dict[str, dict[str, dict[str, tuple[int, int, int]]]] = {
    "mobilenet_v1": {  # Table III
        "G=1": {"P100": (689, 630, 613), "P4000": (1607, 1448, 1373)},
        "G=2": {"P100": (538, 482, 450), "P4000": (1169, 1014, 983)},
        "G=4": {"P100": (421, 357, 330), "P4000": (1005, 846, 816)},
        "G=8": {"P100": (373, 316, 302), "P4000": (780, 630, 592)},
        "G=16": {"P100": (370, 284, 277), "P4000": (689, 551, 507)},
        "G=32": {"P100": (363, 281, 265), "P4000": (648, 501, 480)},
        "g=2": {"P100": (476, 388, 383), "P4000": (785, 673, 631)},
        "g=4": {"P100": (402, 327, 312), "P4000": (706, 572, 551)},
        "g=8": {"P100": (372, 297, 281), "P4000": (704, 561, 550)},
        "g=16": {"P100": (384, 308, 292), "P4000": (719, 598, 591)},
        "g=32": {"P100": (418, 334, 321), "P4000": (811, 698, 647)},
    },
    "resnext50": {  # Table IV
        "G=1": {"P100": (2185, 1248, 712), "P4000": (5780, 2371, 1434)},
        "G=2": {"P100": (1921, 1000, 678), "P4000": (4661, 2109, 1347)},
        "G=4": {"P100": (1476, 804, 667), "P4000": (3431, 1674, 1292)},
        "G=8": {"P100": (1162, 742, 631), "P4000": (2337, 1318, 1152)},
        "G=16": {"P100": (1132, 722, 619), "P4000": (2220, 1251, 1080)},
        "G=32": {"P100": (1088, 694, 597), "P4000": (2063, 1189, 1049)},
        "g=2": {"P100": (1485, 878, 695), "P4000": (2702, 1572, 1276)},
        "g=4": {"P100": (1241, 761, 638), "P4000": (2181, 1391, 1155)},
        "g=8": {"P100": (1142, 730, 612), "P4000": (2055, 1302, 1129)},
        "g=16": {"P100": (1131, 722, 624), "P4000": (2106, 1295, 1117)},
        "g=32": {"P100": (1204, 766, 687), "P4000": (2310, 1356, 1200)},
    },
}


def paper_models() -> list[str]:
    """Models the paper measured."""
    return sorted(_TABLES)


def paper_epf_mj(model: str, policy: str, batch: int, gpu: str) -> float | None:
    """The paper's EPF for one row, mJ per frame; None where the paper has no number.

    Args:
        model: ``mobilenet_v1`` or ``resnext50``.
        policy: Canonical policy string, e.g. ``G=32`` or ``g=8``.
        batch: 1, 4 or 16.
        gpu: ``P100`` or ``P4000``.
    """
    if batch not in PAPER_BATCHES:
        return None
    row = _TABLES.get(model, {}).get(policy, {}).get(gpu)
    return None if row is None else float(row[PAPER_BATCHES.index(batch)])
