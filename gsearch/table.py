"""Params, MACs and per-layer Table I/II rows of model variants, as `gsearch table` prints them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from gsearch.count import Counts, LayerRow, count_model, layer_rows
from gsearch.models import create_model
from gsearch.paper import PAPER_POLICIES
from gsearch.policies import Policy, parse_policy


@dataclass(frozen=True)
class VariantRow:
    """One model under one policy: totals and, optionally, its layers."""

    model: str
    policy: str
    resolution: int
    counts: Counts
    layers: tuple[LayerRow, ...] = ()

    def to_dict(self) -> dict[str, object]:
        row: dict[str, object] = {
            "model": self.model,
            "policy": self.policy,
            "resolution": self.resolution,
            "params": self.counts.params,
            "params_with_bn": self.counts.params_with_bn,
            "macs": self.counts.macs,
        }
        if self.layers:
            row["layers"] = [asdict(layer) for layer in self.layers]
        return row


def describe_variants(
    model: str,
    policies: Sequence[str | Policy] = PAPER_POLICIES,
    resolution: int = 224,
    per_layer: bool = False,
    num_classes: int = 1000,
) -> list[VariantRow]:
    """Count every policy of ``model`` at ``resolution`` (models built on the meta device)."""
    rows = []
    for text in policies:
        policy = parse_policy(text) if isinstance(text, str) else text
        with torch.device("meta"):  # shapes only: nothing allocated, nothing computed
            network = create_model(model, policy, num_classes=num_classes, resolution=resolution)
        layers = tuple(layer_rows(network, resolution)) if per_layer else ()
        rows.append(
            VariantRow(model, str(policy), resolution, count_model(network, resolution), layers)
        )
    return rows


def to_json(rows: Sequence[VariantRow]) -> str:
    """A JSON list of objects with model, policy, params, params_with_bn, macs (and layers)."""
    return json.dumps([row.to_dict() for row in rows], indent=2)


def to_csv(rows: Sequence[VariantRow]) -> str:
    """One line per variant, or per layer of each variant when layers were asked for."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    per_layer = any(row.layers for row in rows)
    head = ["model", "policy", "resolution", "params", "params_with_bn", "macs"]
    layer_fields = list(LayerRow.__dataclass_fields__)
    writer.writerow(head + (["layer_" + f for f in layer_fields] if per_layer else []))
    for row in rows:
        base = [row.model, row.policy, row.resolution]
        totals = [row.counts.params, row.counts.params_with_bn, row.counts.macs]
        if not per_layer:
            writer.writerow(base + totals)
        for layer in row.layers:
            writer.writerow(base + totals + [getattr(layer, f) for f in layer_fields])
    return out.getvalue()
