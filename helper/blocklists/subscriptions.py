"""A blocklist subscription: what it is, where it comes from, how its last update went.

Subscriptions are stored in the helper's database (`store.py`); the lists' names live
in memory only, in the matcher `blocklist_updates.BlocklistUpdates` builds. See
docs/blocklists.md.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netwarden_common.errors import BadValue
from netwarden_helper.blocklists.locations import SourceError, checked_source

MAX_NAME = 200
ADD_FIELDS = {"source": str, "name": str, "enabled": bool}


class BlocklistError(BadValue):
    """A subscription's field is invalid; the message names it."""


@dataclass(frozen=True)
class Blocklist:
    """One subscription and the state of its list (times in Unix seconds)."""

    id: int
    source: str  # http(s) URL, or a file in an allowed folder
    name: str
    enabled: bool
    created: float
    etag: str = ""  # the server's validators, for conditional downloads
    last_modified: str = ""
    checked_at: float | None = None  # the last update attempt
    updated_at: float | None = None  # the last time the list's content was taken in
    domains: int = 0  # names in the list in use
    skipped: int = 0  # lines neither taken nor comments (rejected, and ignored but comments)
    error: str = ""  # why the last attempt failed ("" when it did not)
    # Of the list in use, counted when it is read (at each start too), not stored:
    format: str = ""  # formats.FORMATS
    networks: int = 0  # address ranges in the list in use
    accepted: int = 0  # lines
    ignored: Mapping[str, int] = field(default_factory=dict)  # lines by kind
    rejected: int = 0  # lines


def new_subscription(values: Mapping[str, Any], local_dirs: tuple[Path, ...]) -> dict[str, Any]:
    """The checked fields of a new subscription: source, name, enabled."""
    for key, value in values.items():
        if key not in ADD_FIELDS:
            raise BlocklistError(f"{str(key)[:64]}: unknown field")
        if type(value) is not ADD_FIELDS[key]:
            raise BlocklistError(f"{key}: must be {ADD_FIELDS[key].__name__}")
    if "source" not in values:
        raise BlocklistError("source: missing (an http(s) URL or an absolute path)")
    try:
        source = checked_source(values["source"], local_dirs)
    except SourceError as exc:
        raise BlocklistError(str(exc)) from None
    name = values.get("name") or source.rstrip("/").rsplit("/", 1)[-1] or source
    if len(name) > MAX_NAME or not name.isprintable():
        raise BlocklistError(f"name: at most {MAX_NAME} printable characters")
    return {"source": source, "name": name, "enabled": values.get("enabled", True)}
