"""The location database file: where it comes from, unpacking, checking, opening.

The source is an http(s) URL in which `{year}` and `{month}` stand for the current
month (DB-IP names its monthly files so; the previous month's is tried while this
month's is not out yet). A download may be gzip-compressed. A file is taken only if
maxminddb opens it as a MaxMind DB of countries or cities and answers look-ups from it:
garbage or a truncated file is refused with the reason, and the database in use stays.
maxminddb is imported only to open a file: the helper runs without it (the map is off by
default), and a database then fails with "python3-maxminddb is not installed".
"""

import datetime
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

from netwarden_helper.blocklists.locations import SourceError

DEFAULT_SOURCE = "https://download.db-ip.com/free/dbip-country-lite-{year}-{month}.mmdb.gz"
MAX_DOWNLOAD = 128 << 20
DOWNLOAD_S = 600.0  # tens of MB: minutes on an ordinary link
MAX_DATABASE = 256 << 20
CHUNK = 1 << 20  # unpacked a piece at a time: never the whole file in memory
PROBES = ("1.1.1.1", "8.8.8.8", "2001:4860:4860::8888")
KINDS = ("country", "city")  # what the database's type must name


class DatabaseError(SourceError):
    """A file is not a usable location database; the message says why."""


@dataclass(frozen=True)
class About:
    """What a database says of itself."""

    database_type: str
    description: str
    built_at: float  # Unix seconds
    ip_version: int


def candidates(source: str, now: datetime.datetime) -> list[str]:
    """The URLs `source` stands for at `now`: this month's, then the previous month's
    (one URL when it names no month)."""
    previous = now.replace(day=1) - datetime.timedelta(days=1)
    urls = [source.replace("{year}", f"{day.year:04d}").replace("{month}", f"{day.month:02d}")
            for day in (now, previous)]  # fmt: skip
    return list(dict.fromkeys(urls))


def unpack(download: BinaryIO, out: BinaryIO) -> None:
    """Copy `download` to `out`, gunzipped when it is gzip, at most `CHUNK` bytes in
    memory at a time: at most `MAX_DATABASE` bytes."""
    gzipped = download.read(2) == b"\x1f\x8b"
    download.seek(0)
    inflater = zlib.decompressobj(wbits=31) if gzipped else None
    written = 0
    while chunk := download.read(CHUNK):
        while chunk:
            if inflater is None:
                piece, chunk = chunk, b""
            else:
                try:
                    piece = inflater.decompress(chunk, CHUNK)
                except zlib.error as exc:
                    raise DatabaseError(f"a broken gzip file ({exc})") from None
                chunk = inflater.unconsumed_tail  # what did not fit in CHUNK bytes out
            written += len(piece)
            if written > MAX_DATABASE:
                raise DatabaseError(f"larger than {MAX_DATABASE >> 20} MiB unpacked")
            out.write(piece)
    if inflater and not inflater.eof:
        raise DatabaseError("a truncated gzip file")


def _maxminddb() -> ModuleType:
    """The maxminddb module, or `DatabaseError` when it is not installed."""
    try:
        import maxminddb  # optional: only the world map needs it
    except ImportError:
        raise DatabaseError("python3-maxminddb is not installed") from None
    return maxminddb


def opened(path: Path) -> tuple[Any, About]:
    """The database at `path`, open (memory-mapped), and what it says of itself; or
    `DatabaseError`."""
    maxminddb = _maxminddb()
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        raise DatabaseError(f"not a MaxMind DB (.mmdb) file: {exc}") from None
    try:
        about = _checked(reader)
    except BaseException:
        reader.close()
        raise
    return reader, about


def record(reader: Any, address: Any) -> Any:
    """The record of `address` in an open database (None when it has none, or cannot
    answer for it: an address it does not cover, a damaged record)."""
    try:
        return reader.get(address)
    except (ValueError, _maxminddb().InvalidDatabaseError):
        return None


def check(path: Path) -> None:
    """Refuse (`DatabaseError`) a file that `opened` would refuse."""
    reader, _about = opened(path)
    reader.close()


def _checked(reader: Any) -> About:
    meta = reader.metadata()
    kind = str(meta.database_type)
    if meta.binary_format_major_version != 2 or not any(k in kind.casefold() for k in KINDS):
        raise DatabaseError(f"a {kind or 'nameless'} database, not one of countries or cities")
    try:
        for probe in PROBES if meta.ip_version == 6 else PROBES[:2]:
            found = reader.get(probe)
            if found is not None and not isinstance(found, dict):
                raise DatabaseError(f"its records are not maps ({type(found).__name__})")
    except (_maxminddb().InvalidDatabaseError, ValueError, IndexError) as exc:
        raise DatabaseError(f"a damaged MaxMind DB file: {exc}") from None
    description = meta.description.get("en", "") if isinstance(meta.description, dict) else ""
    return About(kind, str(description), float(meta.build_epoch), int(meta.ip_version))
