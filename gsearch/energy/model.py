"""The ``model`` meter: no hardware, the paper's Eq. 1 as a relative energy score.

Eq. 1 scores a layer as ``M_c^(1-beta) * (A + P)^beta``; the network's score is the sum
over its conv and linear layers (:func:`gsearch.costmodel.network_score`). For a batch of
B frames a layer does B times the MACs and moves B times the activations but reads its
P weights once, so the per-frame score at batch B is

    sum over layers of (B*M_c)^(1-beta) * (B*A + P)^beta / B

which is exactly Eq. 1 at B = 1 and falls with B as weight reuse grows. The result is in
*model units*: comparable between variants of one study, never with joules.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from gsearch.costmodel import HasCost, energy_score
from gsearch.energy.meter import MODEL_UNITS, Clock, Measurement, SystemClock
from gsearch.errors import GsearchError


def score_per_frame(rows: Sequence[HasCost], batch: int = 1, beta: float = 0.5) -> float:
    """Eq. 1 summed over ``rows`` for one frame of a batch of ``batch``, model units.

    Args:
        rows: Per-layer Table II totals for one image (e.g. ``count.layer_rows(model)``).
        batch: Frames per step; weights are shared by the batch.
        beta: Eq. 1's weight of memory traffic, in (0, 1].
    """
    if batch < 1:
        raise GsearchError(f"batch must be >= 1, got {batch}")
    total = sum(
        energy_score(batch * row.macs, batch * row.activations, row.params, beta) for row in rows
    )
    return total / batch


def model_score_per_frame(
    model: nn.Module, resolution: int = 224, batch: int = 1, beta: float = 0.5
) -> float:
    """Eq. 1 score per frame of a built model (a meta-device model costs nothing to count)."""
    from gsearch.count import layer_rows

    return score_per_frame(layer_rows(model, resolution), batch, beta)


class ModelMeter:
    """A meter that charges ``score_per_frame`` model units for every frame it is told of.

    Args:
        score_per_frame: Eq. 1 score of one frame (see :func:`score_per_frame`).
        clock: Time source for window lengths.
    """

    source = "model"
    unit = MODEL_UNITS
    tick_seconds: float | None = None

    def __init__(self, score_per_frame: float, clock: Clock | None = None) -> None:
        if score_per_frame <= 0:
            raise GsearchError(f"model score per frame must be > 0, got {score_per_frame}")
        self.score_per_frame = score_per_frame
        self._clock = clock or SystemClock()
        self._frames = 0
        self._begin_s = 0.0

    def begin(self) -> None:
        """Open a window: no frames counted yet."""
        self._frames = 0
        self._begin_s = self._clock.now()

    def observe_frames(self, frames: int) -> None:
        """Count ``frames`` processed frames into the open window."""
        self._frames += frames

    def end(self) -> Measurement:
        """Model units for the frames counted since :meth:`begin`."""
        seconds = self._clock.now() - self._begin_s
        return Measurement(self.score_per_frame * self._frames, MODEL_UNITS, seconds, self.source)

    def read_counter_j(self) -> float:
        """The model meter has no counter, and its units are not joules."""
        raise GsearchError("the model meter has no energy counter (its units are not joules)")

    def temperature_c(self) -> float | None:
        """No hardware, no temperature."""
        return None

    def close(self) -> None:
        """Nothing to release."""
