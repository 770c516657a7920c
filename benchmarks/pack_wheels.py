"""Pack .whl/ into .whl.tar.xz, small enough to travel to the GPU machine (64 MiB in all).

The wheels that `../shared/gpu/wheels.sh` downloads come to 76 MB (scipy alone 35 MB),
over the device tool's 64 MiB limit on what travels. Wheels are zip files compressed
member by member; stored uncompressed and xz-compressed as one tar they shrink to about
42 MB. Test folders and matplotlib's sample data are left out (nothing imports them);
``testing`` packages stay (scikit-learn imports its array-API ``testing`` module).
`benchmarks/gpu_check.sh` unpacks the archive into .whl/ when .whl/ is absent.

    ../shared/gpu/wheels.sh scikit-learn scipy ...   # into .whl/
    python3 benchmarks/pack_wheels.py                 # .whl/ -> .whl.tar.xz
    # device run: carry [".whl.tar.xz"]
"""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import tarfile
import zipfile
from pathlib import Path

# Folders no import reaches: test suites and sample data.
UNUSED = re.compile(r"(^|/)tests/|mpl-data/sample_data/")


def stored_copy(wheel: Path) -> bytes:
    """The wheel rewritten without compression (xz then sees the raw bytes) and unused files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            if UNUSED.search(info.filename) and ".dist-info/" not in info.filename:
                continue
            member = zipfile.ZipInfo(info.filename, info.date_time)
            member.external_attr = info.external_attr
            out.writestr(member, source.read(info.filename))
    return buffer.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--wheels", type=Path, default=Path(".whl"))
    parser.add_argument("--out", type=Path, default=Path(".whl.tar.xz"))
    args = parser.parse_args()
    wheels = sorted(args.wheels.glob("*.whl"))
    if not wheels:
        raise SystemExit(f"error: no wheel in {args.wheels}: run ../shared/gpu/wheels.sh first")
    tar_path = args.out.with_suffix("")  # .whl.tar
    with tarfile.open(tar_path, "w") as tar:
        for wheel in wheels:
            data = stored_copy(wheel)
            info = tarfile.TarInfo(wheel.name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    # xz -9 on both cores: about 2 minutes on the 2-core machine.
    subprocess.run(["xz", "-9", "-T0", "-f", str(tar_path)], check=True)
    size_mb = args.out.stat().st_size / 1e6
    print(f"{args.out}: {len(wheels)} wheels, {size_mb:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
