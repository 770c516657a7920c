"""gsearch: search group-convolution settings for energy per frame, accuracy and parameters."""

from __future__ import annotations

__version__ = "0.1.0"
