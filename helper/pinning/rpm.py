"""Whether rpm vouches for a file: its database asked through the `rpm` command.

`rpm -qf` names the packages that own a path; the query format lists each of their files
with its digest and the algorithm of their digests (`%{FILEDIGESTALGO}`: sha256 in
today's packages, md5 in old ones). A file verifies when an owning package recorded the
digest its content has now. There is no Python binding in Debian (python3-rpm), and the
command reads rpm's own configuration (`%_dbpath`), so this works on any rpm system; a
system without rpm has no rpm packages. While an rpm transaction holds its lock
(`%_rpmlock_path`), the database may lag behind the files; `lock_path` lets the caller
wait for it as for dpkg's.
"""

import functools
import hashlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

TIMEOUT_S = 60.0
# rpm's digest algorithm numbers (rpmpgp.h), as %{FILEDIGESTALGO} gives them
ALGORITHMS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
FORMAT = r"[%{=NEVRA}\t%{=FILEDIGESTALGO}\t%{FILENAMES}\t%{FILEDIGESTS}\n]"


def _rpm(*args: str) -> str | None:
    """rpm's output for `args`, or None when rpm is missing or fails (not owned, say)."""
    command = shutil.which("rpm")
    if command is None:
        return None
    try:
        done = subprocess.run([command, *args], capture_output=True, timeout=TIMEOUT_S,
                              env={**os.environ, "LC_ALL": "C"}, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("rpm %s: %s", " ".join(args), exc)
        return None
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def recorded(path: str, listing: str) -> Iterator[tuple[str, str, str]]:
    """(package, algorithm, digest) of each package in `listing` (the output of the query
    format above) that records `path`."""
    for line in listing.splitlines():
        fields = line.split("\t")
        if len(fields) == 4 and fields[2] == path:
            package, algorithm, _name, digest = fields
            number = int(algorithm) if algorithm.isdigit() else 1  # none recorded: md5
            yield package, ALGORITHMS.get(number, ""), digest.lower()


def owners(path: str) -> list[tuple[str, str, str]]:
    """(package, algorithm, digest) of every installed package that owns `path`."""
    if "\n" in path or "\t" in path:
        return []  # no packaged file is named so, and the listing could not tell
    listing = _rpm("--query", "--file", "--queryformat", FORMAT, "--", path)
    return list(recorded(path, listing)) if listing else []


def digest_of(path: str, algorithm: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, lambda: hashlib.new(algorithm)).hexdigest()


def verify(path: str) -> tuple[str, bool]:
    """The package owning `path` ("" for none) and whether the file's content is what
    one of its owners installed (slow: call off the loop)."""
    found = owners(path)
    for package, algorithm, expected in found:
        try:
            if algorithm and expected and digest_of(path, algorithm) == expected:
                return package, True
        except OSError:
            break
    return (found[0][0] if found else ""), False


@functools.cache
def lock_path() -> Path | None:
    """The file rpm transactions lock, or None without rpm (asked of rpm once: the
    caller polls it)."""
    path = _rpm("--eval", "%{_rpmlock_path}")
    return Path(path.strip()) if path and path.strip().startswith("/") else None
