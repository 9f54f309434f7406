"""Where blocklists may come from: an http(s) URL, or a local file in one of the folders
the administrator keeps lists in (`--blocklists-dir`, default /etc/netwarden/blocklists,
and /usr/share/netwarden/blocklists for packaged lists). The helper never reads a path a
caller names elsewhere: that would let anyone with the right to add a list make root read
any file. Downloads are `sources.py`'s.
"""

import os
import stat
import urllib.parse
from pathlib import Path

from netwarden_common.errors import BadValue

ADMIN_DIR = Path("/etc/netwarden/blocklists")
PACKAGED_DIR = Path("/usr/share/netwarden/blocklists")
MAX_BYTES = 64 << 20
MAX_SOURCE = 2048


class SourceError(BadValue):
    """A source is refused, or could not be read; the message says why."""


def checked_source(source: str, local_dirs: tuple[Path, ...]) -> str:
    """`source` if it is an http(s) URL or a readable regular file in `local_dirs`."""
    if not source or len(source) > MAX_SOURCE or not source.isprintable() or " " in source:
        raise SourceError("source: must be an http(s) URL or an absolute path, "
                          f"at most {MAX_SOURCE} characters, without spaces")  # fmt: skip
    if source.startswith("/"):
        return _checked_path(source, local_dirs)
    if not source.isascii():
        raise SourceError("source: a URL must be ASCII (percent-encode other characters, "
                          "write an international host name in its xn-- form)")  # fmt: skip
    try:
        parts = urllib.parse.urlsplit(source)
        hostname, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise SourceError(f"source: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise SourceError("source: must be an http:// or https:// URL, or an absolute path")
    return source


def _checked_path(source: str, local_dirs: tuple[Path, ...]) -> str:
    folders = " or ".join(f"{folder}/" for folder in local_dirs)
    real = os.path.realpath(source)
    if os.path.normpath(source) != source or not any(
        Path(real).is_relative_to(os.path.realpath(folder)) for folder in local_dirs
    ):
        raise SourceError(f"source: local blocklists are read only from {folders} "
                          "(the helper reads no other file it is given)")  # fmt: skip
    try:
        mode = os.stat(real).st_mode
    except OSError as exc:
        raise SourceError(f"source: {source}: {exc.strerror}") from None
    if not stat.S_ISREG(mode):
        raise SourceError(f"source: {source} is not a regular file")
    return source


def is_url(source: str) -> bool:
    return not source.startswith("/")


def read_local(source: str, local_dirs: tuple[Path, ...]) -> bytes:
    """The content of a local list (checked again: the file may have been swapped)."""
    checked_source(source, local_dirs)
    with open(source, "rb") as file:
        data = file.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise SourceError(f"larger than {MAX_BYTES >> 20} MiB")
    return data
