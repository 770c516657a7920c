"""The wheel carries every package and the shipped search spaces."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "gsearch").rglob("__init__.py")
    }
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"


@pytest.mark.slow
def test_the_wheel_carries_the_search_spaces(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)  # fmt: skip
    (wheel,) = tmp_path.glob("gsearch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"gsearch/search_spaces/{p.name}" for p in (ROOT / "search_spaces").glob("*.toml")}
    assert shipped and shipped <= names
    assert "gsearch/search/loop.py" in names
