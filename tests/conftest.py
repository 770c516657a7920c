"""Shared test configuration: keep torch to one thread so tests share the 2-core machine."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
