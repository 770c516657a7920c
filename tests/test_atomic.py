from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gsearch.paths import atomic_file, write_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_file(target, "w") as stream:
        stream.write("half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_the_new_file_replaces_the_old_with_the_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    old_mask = os.umask(0o027)
    try:
        write_atomic(target, b"\x00\x01")
    finally:
        os.umask(old_mask)
    assert target.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # as open() gives, not mkstemp's 0o600
    assert write_atomic(target, "text") == target and target.read_text() == "text"


def test_only_whole_file_modes() -> None:
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w'"), atomic_file("x", "a"):
        pass
