"""CPU package energy from Linux powercap (RAPL): ``/sys/class/powercap/*/energy_uj``.

Each top-level RAPL zone whose ``name`` starts with ``package`` is one CPU socket. Its
``energy_uj`` counts microjoules and wraps to zero after ``max_energy_range_uj``; a read
that went down is corrected by one range. The counter updates about every millisecond,
so plain windows need no tick alignment. Since Linux 5.10 ``energy_uj`` is readable by
root only: an unreadable counter means "not available", with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from gsearch.energy.meter import JOULES, Clock, Measurement, SystemClock
from gsearch.errors import EnergySourceUnavailable, GsearchError

POWERCAP_ROOT = Path("/sys/class/powercap")
_TOP_LEVEL_ZONE = re.compile(r"^[a-z_-]*rapl:\d+$")


RAPL_SOURCE = "rapl"


@dataclass(frozen=True)
class RaplDomain:
    """One package zone.

    Attributes:
        name: Its ``name`` file, e.g. ``package-0``.
        path: The zone directory.
        max_range_uj: Counter range before it wraps, microjoules.
    """

    name: str
    path: Path
    max_range_uj: int

    def read_uj(self) -> int:
        """The raw counter, microjoules."""
        return int((self.path / "energy_uj").read_text().strip())


def find_package_domains(root: Path = POWERCAP_ROOT) -> tuple[list[RaplDomain], str]:
    """Readable package domains under ``root``, or none and the reason why.

    Returns:
        (domains, reason): domains is empty when RAPL cannot be used, and reason says
        why; when domains are found, reason names them.
    """
    if not root.is_dir():
        return [], f"{root} does not exist (no powercap/RAPL on this machine)"
    domains: list[RaplDomain] = []
    problems: list[str] = []
    for zone in sorted(root.iterdir()):
        if not _TOP_LEVEL_ZONE.match(zone.name):
            continue
        try:
            name = (zone / "name").read_text().strip()
        except OSError as error:
            problems.append(f"{zone / 'name'}: {error.strerror or error}")
            continue
        if not name.startswith("package"):
            continue
        try:
            max_range = int((zone / "max_energy_range_uj").read_text().strip())
            domain = RaplDomain(name, zone, max_range)
            domain.read_uj()
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            problems.append(f"{zone / 'energy_uj'} is not readable ({reason})")
            continue
        domains.append(domain)
    if domains:
        return domains, "RAPL package domains " + ", ".join(d.name for d in domains)
    if problems:
        return [], "; ".join(problems)
    return [], f"no RAPL package domain under {root}"


class RaplMeter:
    """Sum of the package counters of all CPU sockets.

    Args:
        root: The powercap directory (a fake tree in tests).
        clock: Time source for window lengths.

    Raises:
        EnergySourceUnavailable: no readable package domain, with the reason.
    """

    source = RAPL_SOURCE
    unit = JOULES
    tick_s: float | None = None  # ~1 ms updates: effectively continuous

    def __init__(self, root: Path = POWERCAP_ROOT, clock: Clock | None = None) -> None:
        self.domains, self.reason = find_package_domains(root)
        if not self.domains:
            raise EnergySourceUnavailable(f"RAPL is not available: {self.reason}")
        self._clock = clock or SystemClock()
        self._last_uj = [domain.read_uj() for domain in self.domains]
        self._total_uj = 0
        self._begin_j = 0.0
        self._begin_s = 0.0

    def read_counter_j(self) -> float:
        """Cumulative package energy in joules since the meter was made.

        Each read adds the change since the previous read, corrected for one wraparound,
        so reads must come more often than once per counter range (minutes at CPU power).
        """
        for index, domain in enumerate(self.domains):
            try:
                now_uj = domain.read_uj()
            except (OSError, ValueError) as error:
                raise GsearchError(
                    f"RAPL counter {domain.path} became unreadable: {error}"
                ) from None
            delta = now_uj - self._last_uj[index]
            if delta < 0:
                delta += domain.max_range_uj
            self._total_uj += delta
            self._last_uj[index] = now_uj
        return self._total_uj / 1e6

    def begin(self) -> None:
        """Open a window."""
        self._begin_j = self.read_counter_j()
        self._begin_s = self._clock.now()

    def end(self) -> Measurement:
        """Close the window; joules over all packages."""
        joules = self.read_counter_j() - self._begin_j
        return Measurement(joules, JOULES, self._clock.now() - self._begin_s, self.source)

    def observe_frames(self, frames: int) -> None:
        """Hardware meters need no frame count."""

    def temperature_c(self) -> float | None:
        """RAPL has no temperature."""
        return None

    def close(self) -> None:
        """Nothing to release."""
