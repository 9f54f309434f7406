"""`LocationUpdates`: keeps the location database current and answers look-ups.

Like a blocklist subscription (`blocklists/updates.py`): conditional downloads through
the helper's marked sockets (`blocklists/sources.py`), checked daily (hourly after a
failure), on a worker thread; the file is written atomically, mode 0600, to
`<state dir>/locations/locations.mmdb` only after it opened as a database (`database.py`),
and the open database is swapped on the loop in one assignment. A download that fails or
is refused keeps the database in use; the status says why. The status (validators, times,
the last error) is kept beside the file in `status.json`. Off by default: turning it on
in the settings (`locations`) downloads from `locations_source`; turning it off stops
look-ups and downloads (the file stays for the next time).
"""

import datetime
import functools
import json
import logging
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from netwarden_common.errors import BadValue
from netwarden_common.files import write_private, write_private_with
from netwarden_helper.blocklists.locations import SourceError
from netwarden_helper.blocklists.sources import download
from netwarden_helper.blocklists.updates import CHECK_S, is_stale
from netwarden_helper.geo import database, places
from netwarden_helper.geo.database import About
from netwarden_helper.runtime.events import Event
from netwarden_helper.runtime.loop import Loop
from netwarden_helper.runtime.worker import Worker

log = logging.getLogger(__name__)

STATUS_FIELDS = {"url": str, "etag": str, "last_modified": str, "checked_at": float,
                 "updated_at": float, "error": str}  # fmt: skip


class LocationUpdates:
    def __init__(
        self,
        loop: Loop,
        state_dir: Path,
        own_mark: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._loop = loop
        self._own_mark = own_mark
        self._clock = clock
        folder = state_dir / "locations"
        folder.mkdir(mode=0o700, exist_ok=True)
        self._file = folder / "locations.mmdb"
        self._status_file = folder / "status.json"
        self._status = _read_status(self._status_file)  # the loop's copy
        self._job_status = dict(self._status)  # the worker's: the last job's
        self._enabled, self._source = False, database.DEFAULT_SOURCE
        self._reader: Any = None
        self._about: About | None = None
        self.changed: Event[[dict[str, Any]]] = Event()  # the state, after an update
        self._worker = Worker("locations")
        self._timer = loop.call_every(CHECK_S, self.update_stale)

    def close(self) -> None:
        Loop.cancel(self._timer)
        self._worker.close()
        self._swap(None, None)

    # On the loop

    def configure(self, enabled: bool, source: str) -> None:
        """Follow the settings: load or download when turned on or the source changed,
        stop look-ups when turned off."""
        changed = (enabled, source) != (self._enabled, self._source)
        self._enabled, self._source = enabled, source
        if not enabled:
            self._swap(None, None)
        elif changed:
            fetch = self._status.get("source") != source or not self._file.exists()
            self._submit(fetch or self._due())

    def state(self) -> dict[str, Any]:
        """The database's state: enabled, source, loaded, its type, description and build
        time, the last update's times and error."""
        about = self._about
        return {
            "enabled": self._enabled,
            "source": self._source,
            "loaded": self._reader is not None,
            "database_type": about.database_type if about else "",
            "description": about.description if about else "",
            "built_at": about.built_at if about else 0.0,
            **{key: self._status.get(key, kind()) for key, kind in STATUS_FIELDS.items()
               if key not in ("etag", "last_modified")},
        }  # fmt: skip

    def update(self) -> "Future[dict[str, Any]]":
        """Download the database again if it changed (conditionally); the Future holds the
        state once the new one is in use (or the download failed)."""
        if not self._enabled:
            raise BadValue("the location database is off (setting locations)")
        return self._submit(fetch=True)

    def update_stale(self) -> None:
        if self._enabled and self._due():
            self._submit(fetch=True)

    def locate(self, addresses: list[Any]) -> list[dict[str, Any]]:
        """The place of each address (`BadValue` for one that is not an address)."""
        return places.located(addresses, self._record)

    def _record(self, address: places.Address) -> Any:
        if self._reader is None or (address.version == 6 and self._about.ip_version != 6):  # type: ignore[union-attr]
            return None
        return database.record(self._reader, address)

    def _due(self) -> bool:
        status = self._status
        return is_stale(status.get("checked_at"), status.get("updated_at"),
                        status.get("error", ""), self._clock())  # fmt: skip

    def _submit(self, fetch: bool) -> "Future[dict[str, Any]]":
        done: Future[dict[str, Any]] = Future()
        reopen = self._reader is None
        job = functools.partial(self._work, self._source, fetch, reopen, done)
        self._worker.submit(job)
        return done

    def _apply(self, opened: tuple[Any, About] | None, status: dict, done: Future) -> None:
        self._status = status
        if opened is not None and self._enabled:
            self._swap(*opened)
        elif opened is not None:  # turned off meanwhile
            opened[0].close()
        state = self.state()
        self.changed.emit(state)
        done.set_result(state)

    def _swap(self, reader: Any, about: About | None) -> None:
        old, self._reader, self._about = self._reader, reader, about
        if old is not None:
            old.close()

    # On the worker thread

    def _work(self, source: str, fetch: bool, reopen: bool, done: Future) -> None:
        """Download (when `fetch`), then open the stored file when it changed or none is
        open (`reopen`), whatever the download did: at boot, before the network, the
        download fails and the file from the last time answers."""
        status, opened = self._job_status, None  # as the job before this one left it
        if fetch:
            status = {**status, "checked_at": self._clock()}
            try:
                status = self._fetched(source, status)
                reopen = reopen or status.pop("changed", False)
            except Exception as exc:
                status = _failed(status, exc)
        if reopen and self._file.exists():
            try:
                opened = database.opened(self._file)
            except Exception as exc:
                status = _failed(status, exc)
        self._job_status = status
        try:
            write_private(self._status_file, json.dumps(status).encode())
        except OSError as exc:
            log.warning("the location database's status was not saved: %s", exc)
        self._loop.call_soon(lambda: self._apply(opened, status, done))

    def _fetched(self, source: str, status: dict) -> dict:
        """The status after downloading `source` (with "changed" when a new file is in
        place); `SourceError` when every candidate URL failed."""
        now = status["checked_at"]
        month = datetime.datetime.fromtimestamp(now, datetime.UTC)
        error, tried = SourceError("no URL"), source
        for url in database.candidates(source, month):
            tried = url
            known = url == status.get("url") and self._file.exists()
            # the download is kept on disk, then unpacked from there: tens of MB, never in memory
            with tempfile.TemporaryFile(dir=self._file.parent) as body:
                try:
                    got = download(url, status.get("etag", "") if known else "",
                                   status.get("last_modified", "") if known else "",
                                   self._own_mark, database.MAX_DOWNLOAD,
                                   database.DOWNLOAD_S, into=body)  # fmt: skip
                except SourceError as exc:
                    error = exc
                    if str(exc).startswith("HTTP 404"):  # this month's not out yet: the last
                        continue
                    break
                if got.data is None:
                    log.info("location database (%s) not modified", url)
                    return {**status, "source": source, "error": ""}
                body.seek(0)
                write_private_with(self._file, functools.partial(database.unpack, body),
                                   check=database.check)  # fmt: skip
            log.info("location database downloaded from %s", url)
            return {**status, "source": source, "url": url, "etag": got.etag,
                    "last_modified": got.last_modified, "updated_at": now, "error": "",
                    "changed": True}  # fmt: skip
        raise SourceError(f"{error} ({tried})")


def _failed(status: dict, exc: Exception) -> dict:
    """`status` with the error `exc` (logged)."""
    if not isinstance(exc, SourceError | OSError):
        log.exception("updating the location database failed")
    log.warning("location database kept as it was: %s", exc)
    return {**status, "error": str(exc)}


def _read_status(path: Path) -> dict[str, Any]:
    """The stored status, its fields of the wrong type left out (a damaged file: none)."""
    try:
        stored = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict):
        return {}
    kinds = {**STATUS_FIELDS, "source": str}
    return {k: v for k, v in stored.items() if k in kinds and isinstance(v, kinds[k])}
