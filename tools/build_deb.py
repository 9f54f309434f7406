"""`make deb`: build netwarden_<version>_all.deb with dpkg-buildpackage.

    python3 tools/build_deb.py OUTPUT_FOLDER [--version VERSION]

The checkout (less caches and outputs) is copied to a scratch folder, since
dpkg-buildpackage writes its results beside the source tree, and the package is
built there from debian/ (debhelper; the files are installed by tools/install.py, as
`make install` does). `--version` builds the same source as another package version (a
changelog entry on top, in the copy): the upgrade tests install one over the other. Build
dependencies are not checked against build-essential, which
an Architecture: all package of Python code does not use.
"""

import argparse
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


def build(output: Path, version: str | None = None) -> Path:
    """Build the package (as `version`, if given); return the .deb's path in `output`."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "netwarden"
        shutil.copytree(CHECKOUT, tree, ignore=NOT_SOURCE, symlinks=True)
        if version is not None:
            changelog = tree / "debian" / "changelog"
            entry = (f"netwarden ({version}) unstable; urgency=medium\n\n"
                     "  * The same source, built as another version.\n\n"
                     " -- Netwarden developers <dev@netwarden.invalid>  "
                     "Sat, 28 Nov 2026 20:00:00 +0000\n\n")  # fmt: skip
            changelog.write_text(entry + changelog.read_text())
        result = subprocess.run(["dpkg-buildpackage", "--build=binary", "-us", "-uc", "-d"],
                                cwd=tree, capture_output=True, text=True)  # fmt: skip
        if result.returncode != 0:
            sys.exit(f"dpkg-buildpackage failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        (deb,) = Path(scratch).glob("netwarden_*_all.deb")
        return Path(shutil.copy2(deb, output / deb.name))


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the Debian package.")
    parser.add_argument("output", type=Path, help="the folder the .deb is copied to")
    parser.add_argument("--version", help="build as this package version")
    args = parser.parse_args()
    print(build(args.output, args.version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
