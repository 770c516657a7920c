"""Model registry: plain builder functions behind ``register_model`` / ``create_model``.

A model family registers two things under one name: a function that lists its grouped
layers as :class:`~gsearch.layers.LayerSpec` rows at a given input resolution, and a
builder that takes one g per grouped layer. ``create_model`` joins them through a
policy, so policies, counts and the cost model all see the same layers.
"""

from __future__ import annotations

# Importing the families registers them.
from gsearch.models import mobilenet_v1, resnext, tiny  # noqa: F401
from gsearch.models._registry import (
    ModelFamily,
    create_model,
    get_family,
    init_residuals_as_identity,
    layer_specs,
    list_models,
    register_model,
)

__all__ = [
    "ModelFamily",
    "create_model",
    "get_family",
    "init_residuals_as_identity",
    "layer_specs",
    "list_models",
    "register_model",
]
