from __future__ import annotations

import optuna
import pytest

from gsearch.paper import paper_models
from gsearch.report.figures import pareto_figure
from gsearch.report.labels import objectives_of
from gsearch.report.paper_refs import paper_variants
from gsearch.report.tables import trial_rows
from gsearch.table import PAPER_POLICIES, describe_variants


def test_eleven_variants_per_paper_model_in_the_tables_order() -> None:
    for model in paper_models():
        variants = paper_variants(model, "imagenet")
        assert [v.policy for v in variants] == list(PAPER_POLICIES)
    assert paper_variants("tiny_convnet", "digits") == []


def test_top1_follows_the_dataset_the_paper_reported() -> None:
    food = paper_variants("mobilenet_v1", "food101")
    assert (food[0].dataset, food[0].top1) == ("food101", 79.96)
    other = paper_variants("resnext50", "digits")  # not the paper's: ImageNet-1K figures
    assert (other[-1].dataset, other[-1].top1) == ("imagenet", 77.80)


@pytest.mark.slow
def test_printed_params_are_the_exact_counts_truncated() -> None:
    for model in paper_models():
        exact = {r.policy: r.counts.params / 1e6 for r in describe_variants(model)}
        for variant in paper_variants(model, "imagenet"):
            if (model, variant.policy) == ("mobilenet_v1", "G=1"):
                continue  # the paper quotes the original MobileNet paper's 4.20 M (4.21 M exact)
            assert variant.params_m == pytest.approx(exact[variant.policy], abs=0.01)


def test_paper_marks_show_on_the_papers_datasets_and_wait_in_the_legend_elsewhere(
    tie_study: optuna.Study,
) -> None:
    frame = trial_rows(tie_study)
    objectives = objectives_of(tie_study)
    for dataset, shown in (("imagenet", True), ("digits", "legendonly")):
        variants = paper_variants("mobilenet_v1", dataset)
        traces, _ = pareto_figure(frame, objectives, [variants], dataset == "imagenet")
        (paper,) = [t for t in traces if t["name"].startswith("paper's variants")]
        assert paper["visible"] == shown and (paper["xaxis"], paper["yaxis"]) == ("x2", "y2")
        assert paper["x"][5] == 5.59 and paper["text"][5] == "G=32"  # Table III, E2GC G=32
