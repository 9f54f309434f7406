"""`make deb`: build netwarden_<version>_all.deb with dpkg-buildpackage.

    python3 tools/build_deb.py OUTPUT_FOLDER

The checkout (less caches and outputs) is copied to a scratch folder, since
dpkg-buildpackage writes its results beside the source tree, and the package is
built there from debian/ (debhelper; the files are installed by tools/install.py, as
`make install` does). Build dependencies are not checked against build-essential, which
an Architecture: all package of Python code does not use.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


# What is not source: version control, caches and outputs (as in .gitignore).
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv-lint",
    ".scratch",
    "test-artifacts",
    "dist",
    "build",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
)


def build(output: Path) -> Path:
    """Build the package; return the .deb's path in `output`."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "netwarden"
        shutil.copytree(CHECKOUT, tree, ignore=NOT_SOURCE, symlinks=True)
        result = subprocess.run(["dpkg-buildpackage", "--build=binary", "-us", "-uc", "-d"],
                                cwd=tree, capture_output=True, text=True)  # fmt: skip
        if result.returncode != 0:
            sys.exit(f"dpkg-buildpackage failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        (deb,) = Path(scratch).glob("netwarden_*_all.deb")
        return Path(shutil.copy2(deb, output / deb.name))


def main() -> int:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(build(Path(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
