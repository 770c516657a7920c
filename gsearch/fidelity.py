"""Does the proxy rank group policies like longer training does, on the user's own data?

:func:`check_fidelity` trains, for each policy of a sample, the proxy with
several seeds and one longer reference run, and reports per policy the seed
spread, the gap between the proxy's median and the reference, the cost of
each, and Kendall's tau between the two rankings. A proxy whose seed spread
is as large as the differences between policies ranks noise; the report
makes that visible before a search relies on it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from gsearch.data import DatasetBundle
from gsearch.energy.stats import kendall_tau as tau_or_nan
from gsearch.errors import GsearchError
from gsearch.models import create_model
from gsearch.paper import PAPER_SAMPLE
from gsearch.paths import safe_name
from gsearch.training import (
    PROXY,
    Recipe,
    TrainMetrics,
    prepare_data,
    recipe_tag,
    train,
    train_proxy_seeds,
)

REFERENCE_EPOCHS = 30

RunCallback = Callable[[str, str, int, TrainMetrics], None]
"""Called after each run with (policy, ``proxy`` or ``reference``, seed, metrics)."""


def reference_recipe(proxy: Recipe = PROXY, epochs: int = REFERENCE_EPOCHS) -> Recipe:
    """The proxy's recipe trained ``epochs`` long, on the same data, with one seed.

    It answers "does the short run predict where the same training ends up?";
    pass ``FULL`` (or a variant) to :func:`check_fidelity` to compare with the
    full recipe on the full dataset instead.
    """
    return proxy.with_(name=f"reference-{epochs}ep", epochs=epochs, seeds=(proxy.seeds[0],))


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b between two score lists (ties handled); ``None`` when undefined.

    Undefined means fewer than two items, or every item tied in one list.
    """
    tau = tau_or_nan(x, y)
    return None if math.isnan(tau) else tau


@dataclass(frozen=True)
class PolicyFidelity:
    """Proxy against reference for one policy.

    Attributes:
        policy: Policy string (``G=8``, ``g=32``, ...).
        params_m: Parameters of the model in millions (all trainable tensors).
        proxy_top1s: Proxy top-1 of each seed, percent.
        proxy_median_top1: Median of ``proxy_top1s``.
        proxy_spread_top1: Max minus min of ``proxy_top1s``, points.
        reference_top1: Top-1 of the reference run, percent.
        gap_top1: ``proxy_median_top1 - reference_top1``, points.
        proxy_s: Median wall seconds of one proxy run.
        reference_s: Wall seconds of the reference run.
    """

    policy: str
    params_m: float
    proxy_top1s: tuple[float, ...]
    proxy_median_top1: float
    proxy_spread_top1: float
    reference_top1: float
    gap_top1: float
    proxy_s: float
    reference_s: float


@dataclass(frozen=True)
class FidelityReport:
    """Result of :func:`check_fidelity`.

    Attributes:
        dataset: Dataset name.
        model: Model name.
        proxy: Proxy recipe.
        reference: Reference recipe.
        seeds: Proxy seeds.
        rows: One row per policy, in the order given.
        kendall_tau: Tau-b between the proxy-median and reference rankings
            (``None`` when undefined).
        reference_spread_top1: Max minus min of the reference top-1 over policies, points.
        one_image_points: Top-1 points one validation image is worth in the reference.
        tau_meaningful: False when the reference spread is within one
            validation image: the reference does not rank the policies, so tau says nothing.
        proxy_val_images: Validation images of the proxy's data.
        reference_val_images: Validation images of the reference's data.
    """

    dataset: str
    model: str
    proxy: Recipe
    reference: Recipe
    seeds: tuple[int, ...]
    rows: tuple[PolicyFidelity, ...]
    kendall_tau: float | None
    reference_spread_top1: float
    one_image_points: float
    tau_meaningful: bool
    proxy_val_images: int
    reference_val_images: int

    @property
    def max_seed_spread(self) -> float:
        """Largest proxy seed spread over the policies, points."""
        return max(row.proxy_spread_top1 for row in self.rows)

    @property
    def max_abs_gap(self) -> float:
        """Largest ``|proxy median - reference|`` over the policies, points."""
        return max(abs(row.gap_top1) for row in self.rows)

    @property
    def cost_ratio(self) -> float:
        """Total seconds of one proxy run per policy over total reference seconds."""
        reference = sum(row.reference_s for row in self.rows)
        return sum(row.proxy_s for row in self.rows) / max(reference, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (JSON-ready), with the summary properties."""
        data = asdict(self)
        data.update(
            max_seed_spread=self.max_seed_spread,
            max_abs_gap=self.max_abs_gap,
            cost_ratio=self.cost_ratio,
        )
        return data


def _params_m(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def check_fidelity(
    dataset: str = "digits",
    data_root: str | Path | None = None,
    model: str = "mobilenet_v1",
    policies: Sequence[str] = PAPER_SAMPLE[:5],
    *,
    device: str | torch.device = "cpu",
    proxy: Recipe = PROXY,
    reference: Recipe | None = None,
    seeds: Sequence[int] = (0, 1, 2),
    checkpoint_dir: str | Path | None = None,
    skip_corrupt: bool = False,
    quiet: bool = True,
    on_run: RunCallback | None = None,
) -> FidelityReport:
    """Train proxy (several seeds) and reference for each policy; compare them.

    Args:
        dataset: Registered dataset name.
        data_root: Data root for datasets on disk.
        model: Registered model name.
        policies: Policy strings to sample (at least two for a ranking).
        device: Where to train.
        proxy: The proxy recipe under test.
        reference: The longer run; ``None`` is :func:`reference_recipe` of ``proxy``.
        seeds: Proxy seeds (the reference uses ``reference.seeds[0]``).
        checkpoint_dir: If given, every run checkpoints under
            ``<dir>/<policy>/<proxy|reference>-<recipe tag>/``, so a killed check
            resumes and finished runs are not repeated (also when only the proxy changes).
        skip_corrupt: Passed to the dataset loader.
        quiet: No progress bars from the training runs.
        on_run: Called after each run (e.g. to advance a progress bar).

    Raises:
        GsearchError: No policy or seed, an unknown dataset/model/policy, or a
            dataset smaller than the proxy subset asks (the message names both numbers).
    """
    if not policies:
        raise GsearchError("check_fidelity needs at least one policy")
    if not seeds:
        raise GsearchError("check_fidelity needs at least one seed")
    reference = reference_recipe(proxy) if reference is None else reference
    proxy_data = prepare_data(dataset, proxy, data_root, skip_corrupt=skip_corrupt)
    reference_data = _reuse_if_same(proxy_data, dataset, proxy, reference, data_root, skip_corrupt)
    rows = []
    for policy in policies:
        folder = None if checkpoint_dir is None else Path(checkpoint_dir) / safe_name(policy)

        def build(policy: str = policy, data: DatasetBundle = proxy_data) -> torch.nn.Module:
            return create_model(model, policy=policy, num_classes=data.num_classes)

        proxy_runs = []
        for seed in seeds:
            summary = train_proxy_seeds(
                build,
                proxy_data,
                proxy,
                seeds=(seed,),
                device=device,
                checkpoint_dir=None if folder is None else folder / f"proxy-{recipe_tag(proxy)}",
                quiet=quiet,
            )
            proxy_runs.append(summary.runs[0])
            if on_run is not None:
                on_run(policy, "proxy", seed, summary.runs[0])
        reference_seed = reference.seeds[0]
        torch.manual_seed(reference_seed)
        network = create_model(model, policy=policy, num_classes=reference_data.num_classes)
        params_m = _params_m(network)
        long_run = train(
            network,
            reference_data,
            reference.with_(seed=reference_seed),
            device=device,
            checkpoint_dir=None
            if folder is None
            else folder / f"reference-{recipe_tag(reference)}",
            quiet=quiet,
        )
        if on_run is not None:
            on_run(policy, "reference", reference_seed, long_run)
        top1s = tuple(run.top1 for run in proxy_runs)
        median = statistics.median(top1s)
        rows.append(
            PolicyFidelity(
                policy=policy,
                params_m=params_m,
                proxy_top1s=top1s,
                proxy_median_top1=median,
                proxy_spread_top1=max(top1s) - min(top1s),
                reference_top1=long_run.top1,
                gap_top1=median - long_run.top1,
                proxy_s=statistics.median(run.seconds for run in proxy_runs),
                reference_s=long_run.seconds,
            )
        )
    references = [row.reference_top1 for row in rows]
    spread = max(references) - min(references)
    one_image = 100.0 / reference_data.val_size
    return FidelityReport(
        dataset=dataset,
        model=model,
        proxy=proxy,
        reference=reference,
        seeds=tuple(seeds),
        rows=tuple(rows),
        kendall_tau=kendall_tau([row.proxy_median_top1 for row in rows], references),
        reference_spread_top1=spread,
        one_image_points=one_image,
        # A spread within one image (plus float rounding) cannot rank anything.
        tau_meaningful=len(rows) >= 2 and spread > one_image + 1e-9,
        proxy_val_images=proxy_data.val_size,
        reference_val_images=reference_data.val_size,
    )


def _reuse_if_same(
    proxy_data: DatasetBundle,
    dataset: str,
    proxy: Recipe,
    reference: Recipe,
    root: str | Path | None,
    skip_corrupt: bool,
) -> DatasetBundle:
    same = (
        proxy.fidelity == reference.fidelity
        and proxy.resolution == reference.resolution
        and proxy.subset == reference.subset
    )
    if same:
        return proxy_data
    return prepare_data(dataset, reference, root, skip_corrupt=skip_corrupt)


def fidelity_table(report: FidelityReport) -> Table:
    """The report as a rich table: one row per policy, proxy against reference."""
    table = Table(
        title=f"proxy vs. {report.reference.epochs}-epoch reference: "
        f"{report.model} on {report.dataset}"
    )
    columns = ("policy", "proxy top-1 per seed", "median", "spread", "reference", "gap",
               "proxy s", "reference s")  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column == "policy" else "right")
    for row in report.rows:
        table.add_row(
            row.policy,
            " ".join(f"{t:.1f}" for t in row.proxy_top1s),
            f"{row.proxy_median_top1:.1f}",
            f"{row.proxy_spread_top1:.1f}",
            f"{row.reference_top1:.1f}",
            f"{row.gap_top1:+.1f}",
            f"{row.proxy_s:.0f}",
            f"{row.reference_s:.0f}",
        )
    return table
