from __future__ import annotations

import subprocess
import sys

import pytest

from gsearch.paper import (
    PAPER_POLICIES,
    PAPER_SAMPLE,
    paper_epf_mj,
    paper_models,
    paper_row,
    paper_rows,
)
from gsearch.report.paper_refs import paper_variants


def test_both_tables_have_the_eleven_variants_in_order() -> None:
    assert paper_models() == ["mobilenet_v1", "resnext50"]
    for model in paper_models():
        assert [row.policy for row in paper_rows(model)] == list(PAPER_POLICIES)
    assert paper_rows("tiny_convnet") == [] and paper_row("resnext50", "G=3") is None
    assert set(PAPER_SAMPLE) <= set(PAPER_POLICIES)


def test_rows_read_as_printed() -> None:
    row = paper_row("mobilenet_v1", "g=2")
    assert row is not None
    assert (row.params_m, row.macs, row.top1["food101"]) == (16.72, 2690.06, 78.60)
    assert paper_epf_mj("resnext50", "G=2", 1, "P4000") == 4661
    assert paper_epf_mj("resnext50", "G=2", 64, "P4000") is None
    assert paper_epf_mj("resnext50", "G=2", 1, "V100") is None


@pytest.mark.parametrize("model", ["mobilenet_v1", "resnext50"])
def test_the_report_reads_this_table(model: str) -> None:
    for dataset in ("imagenet", "food101"):
        for variant, row in zip(paper_variants(model, dataset), paper_rows(model), strict=True):
            assert (variant.params_m, variant.top1) == (row.params_m, row.top1[dataset])


def test_reading_the_tables_loads_no_torch() -> None:
    code = "import sys, gsearch.paper; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
