"""The argument types of the commands: each value checked as it is parsed, with a bound a user
can read in its one-line error (gsearch.limits), and the flags several commands share.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from gsearch import paths
from gsearch.limits import (
    MAX_BATCH,
    MAX_CLASSES,
    MAX_REPEATS,
    MAX_RESOLUTION_PX,
    MAX_SEED,
    MAX_SEEDS,
    MAX_WARMUP_S,
    MAX_WINDOW_S,
    MAX_WORKER_INDEX,
)

WINDOW_HELP = "window length, seconds (default 1; 0.3 with the time meter)"
WARMUP_HELP = "warm-up per network or layer, seconds (default 1; 0.3 with the time meter)"


def _int_in(low: int, high: int | None, expected: str) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high`` (``None``: no bound), named
    ``expected`` in its one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_positive_int = _int_in(1, None, "a positive integer")
# Values that pass their type but exceed any machine: bounds a user can read (limits.py).
_side_px = _int_in(1, MAX_RESOLUTION_PX, f"pixels from 1 to {MAX_RESOLUTION_PX}")
_batch = _int_in(1, MAX_BATCH, f"a batch of 1 to {MAX_BATCH} frames")
_classes = _int_in(1, MAX_CLASSES, f"1 to {MAX_CLASSES} classes")
_repeats = _int_in(1, MAX_REPEATS, f"1 to {MAX_REPEATS} windows")
_worker_index = _int_in(0, MAX_WORKER_INDEX, f"an integer from 0 to {MAX_WORKER_INDEX}")
_seed = _int_in(0, MAX_SEED, f"an integer from 0 to {MAX_SEED}")
_port = _int_in(1, 65535, "a port 1-65535")


def _finite_float(text: str, *, zero_allowed: bool) -> float:
    """A finite number > 0 (>= 0 where zero is allowed): ``nan`` and ``inf`` are refused."""
    bound = ">= 0" if zero_allowed else "> 0"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number {bound}, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero_allowed):
        raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    return _finite_float(text, zero_allowed=False)


def _non_negative_float(text: str) -> float:
    """A warm-up may be none."""
    return _finite_float(text, zero_allowed=True)


def _seconds_up_to(high: float, *, zero_allowed: bool) -> Callable[[str], float]:
    """An argparse type: a finite number of seconds, at most ``high``."""

    def parse(text: str) -> float:
        value = _finite_float(text, zero_allowed=zero_allowed)
        if value > high:
            low = "0" if zero_allowed else "more than 0"
            raise argparse.ArgumentTypeError(f"expected {low} to {high:g} seconds, got {text!r}")
        return value

    return parse


_window_s = _seconds_up_to(MAX_WINDOW_S, zero_allowed=False)
_warmup_s = _seconds_up_to(MAX_WARMUP_S, zero_allowed=True)


def _text(text: str) -> str:
    """A non-empty value (an empty one would silently mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a value, got an empty string")
    if "\x00" in text:
        raise argparse.ArgumentTypeError(f"expected text without NUL characters, got {text!r}")
    return text


def _add_storage(p: argparse.ArgumentParser) -> None:
    help_text = f"Optuna storage URL (default {paths.DEFAULT_STORAGE_URL})"
    p.add_argument("--storage", type=_text, default=None, help=help_text)


def _recipe_override(text: str) -> tuple[str, str]:
    """``KEY=VALUE``, typed by the recipe field (gsearch.training.parse_recipe_value)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _seed_list(text: str) -> tuple[int, ...]:
    """Distinct training seeds, each one ``--seed`` would take, at most ``MAX_SEEDS``."""
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers separated by commas, got {text!r}"
        ) from None
    if any(not 0 <= seed <= MAX_SEED for seed in seeds):
        raise argparse.ArgumentTypeError(
            f"expected seeds from 0 to {MAX_SEED} separated by commas, got {text!r}"
        )
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"expected distinct seeds, got {text!r}")
    if len(seeds) > MAX_SEEDS:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_SEEDS} seeds (each trains every network once more), "
            f"got {len(seeds)}"
        )
    return seeds


def _check_device(device: str | None) -> str:
    """``--device`` resolved and checked (``auto``/unset: the first GPU, else the CPU)."""
    from gsearch.energy.select import resolve_device

    resolved = resolve_device(device or "auto")
    if device is None:  # the default keeps its spelling: a study pins its device string
        return "cuda" if resolved.type == "cuda" else "cpu"
    return device
