"""Errors that the CLI turns into one clear line and exit status 2.

Library code raises the most specific class that fits; the CLI catches
:class:`GsearchError` and prints ``error: <message>`` as plain text.
"""

from __future__ import annotations


class GsearchError(Exception):
    """A failure the user can act on: bad input, missing data, unavailable hardware.

    The message is one line that names what was wrong and what is allowed.
    The CLI prints it as ``error: <message>`` and exits with status 2.
    """

    exit_code = 2


class ConfigError(GsearchError):
    """A value, name or file given by the user is not allowed (option, space file, policy)."""


class DataError(GsearchError):
    """A dataset cannot be used: missing root, wrong layout, corrupt or too few images."""


class EnergySourceUnavailable(GsearchError):
    """The energy source asked for (NVML, RAPL) is absent or cannot be read."""


class OutOfMemory(GsearchError):
    """A training or measuring step did not fit in the device's memory; the message names
    the setting to lower."""


class StorageUnavailable(GsearchError):
    """The study storage cannot be opened or stopped answering (lost server, corrupt file)."""


class StorageLocked(StorageUnavailable):
    """Another process holds the storage locked; waiting or retrying helps."""


class StorageFull(StorageUnavailable):
    """The storage's device has no space left; nothing more can be written until space is freed."""


class StorageReadOnly(StorageUnavailable):
    """The storage refuses writes (read-only file, folder or mount)."""


class ForeignStudy(ConfigError):
    """A study (or database) that another program made; gsearch neither reads nor writes it."""
