"""Whether the package manager vouches for a file: dpkg's own records, read directly,
else rpm's database (`rpm.py`).

dpkg lists every file a package installed in `/var/lib/dpkg/info/<package>.list` and its
md5 in `<package>.md5sums` (`<package>:<arch>.*` for multi-arch packages). A file
verifies when a package owns it and its md5 is the one dpkg recorded. No package-manager
command is ever run. While dpkg is at work (its lock is held) the records may lag behind
the files; `busy` lets the caller wait for it (or an rpm transaction) to finish before
judging.
"""

import fcntl
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from netwarden_helper.pinning import rpm

DPKG_INFO = Path("/var/lib/dpkg/info")
DPKG_LOCK = Path("/var/lib/dpkg/lock")


@dataclass(frozen=True)
class Verification:
    """Who owns a file and whether its content is what the package installed."""

    package: str  # "" when no package owns the file
    verified: bool


def owner(path: str, info: Path = DPKG_INFO) -> str:
    """The package that installed `path`, or ""."""
    wanted = path.encode() + b"\n"
    try:
        lists = sorted(info.glob("*.list"))
    except OSError:
        return ""
    for listing in lists:
        try:
            if wanted in listing.read_bytes():
                return listing.name.removesuffix(".list")
        except OSError:
            continue
    return ""


def recorded_md5(package: str, path: str, info: Path = DPKG_INFO) -> str:
    """The md5 dpkg recorded for `path` of `package`, or ""."""
    relative = path.lstrip("/")
    try:
        lines = (info / f"{package}.md5sums").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in lines:
        digest, _, name = line.partition("  ")
        if name == relative:
            return digest
    return ""


def md5_of(path: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def verify(path: str, info: Path = DPKG_INFO) -> Verification:
    """Check the file at `path` against the dpkg database, or rpm's when no dpkg package
    owns it (slow: call off the loop)."""
    package = owner(path, info)
    if not package:
        return Verification(*rpm.verify(path))
    expected = recorded_md5(package, path, info)
    try:
        verified = bool(expected) and md5_of(path) == expected
    except OSError:
        verified = False
    return Verification(package, verified)


def busy() -> bool:
    """Whether dpkg or an rpm transaction is at work now."""
    rpm_lock = rpm.lock_path()
    return locked(DPKG_LOCK) or (rpm_lock is not None and locked(rpm_lock))


def locked(lock: Path) -> bool:
    """Whether some process holds a write lock on file `lock` (asked without taking it)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, query)
        return struct.unpack("hhqqi", answer)[0] != fcntl.F_UNLCK
    except OSError:
        return False
    finally:
        os.close(fd)
