"""The paper's params and top-1 for its 11 variants per model: reference marks on the plots.

Tables III and IV of the paper as printed (:mod:`gsearch.paper`: params truncated to two
decimals, 1000 classes). ``gsearch table`` recomputes the params exactly; here the
printed numbers are read because counting 11 networks would cost the report seconds. The paper's EPF
(``gsearch.paper``) is from other GPUs and is never plotted against a
measured EPF.
"""

from __future__ import annotations

from dataclasses import dataclass

from gsearch.paper import TABLE_OF, paper_rows

DATASET_WORDS = {"imagenet": "ImageNet-1K", "food101": "Food-101"}
__all__ = ["DATASET_WORDS", "TABLE_OF", "PaperVariant", "paper_variants"]


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
    rows = paper_rows(model)
    column = dataset if rows and dataset in rows[0].top1 else "imagenet"
    return [PaperVariant(model, r.policy, r.params_m, r.top1[column], column) for r in rows]
