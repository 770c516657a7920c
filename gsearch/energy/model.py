"""The ``model`` meter: no hardware, the paper's Eq. 1 as a relative energy score.

The meter charges each frame a score it is given: a candidate's Eq. 1 score per frame
at the step's batch (:func:`gsearch.costmodel.score_per_frame`, attached to the
candidate by :mod:`gsearch.candidates`; energy/ never imports the cost model). The
result is in *model units*: comparable between variants of one study, never with
joules. The score falls monotonically as groups grow, so it cannot rank group settings
as measured energy does (BENCHMARKS.md, Eq. 1 against measurements).
"""

from __future__ import annotations

from gsearch.energy.meter import MODEL_UNITS, Clock, Measurement, SystemClock
from gsearch.errors import GsearchError


class ModelMeter:
    """A meter that charges ``score_per_frame`` model units for every frame it is told of.

    Args:
        score_per_frame: Eq. 1 score of one frame (:func:`gsearch.costmodel.score_per_frame`).
        clock: Time source for window lengths.
    """

    source = "model"
    unit = MODEL_UNITS
    tick_s: float | None = None

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
