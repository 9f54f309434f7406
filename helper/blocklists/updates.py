"""`BlocklistUpdates`: keeps the subscribed blocklists current and the matcher built.

Everything slow runs on one worker thread: reading and parsing lists, downloads, writing
the copies (`<state dir>/blocklists/<id>.list`), merging the names into one
`DomainMatcher`. The worker hands the new matcher and every list's status to the loop,
where the matcher replaces the old one in one assignment (`on_matcher`) and the statuses
are stored: the packet path never waits for a list and never sees half of one. A list
that cannot be read, downloaded or parsed keeps its previous names; its status says why.
Lists are parsed into compact entries (`formats.py`, `domain_lists.py`), and once a new
matcher is in use the memory freed (the old matcher, a refused list's parse) goes back to
the system.

At start, lists load from what is at hand (local files, the copies of URL lists) and URL
lists not checked for `UPDATE_S` are downloaded; the enabled lists' staleness is checked
every `CHECK_S`. A job that reads no list and drops none keeps the matcher in use.
"""

import functools
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from typing import Any

from netwarden_common.errors import Missing
from netwarden_common.files import write_private
from netwarden_helper.blocklists.formats import ParsedList, parse_list
from netwarden_helper.blocklists.locations import SourceError, is_url, read_local
from netwarden_helper.blocklists.sources import download
from netwarden_helper.blocklists.subscriptions import Blocklist, BlocklistError, new_subscription
from netwarden_helper.policy.domain_lists import DomainMatcher, ListEntries
from netwarden_helper.runtime.loop import Loop
from netwarden_helper.runtime.memory import release_memory
from netwarden_helper.runtime.worker import Worker
from netwarden_helper.storage.store import Store

log = logging.getLogger(__name__)

UPDATE_S = 86400.0
CHECK_S = 3600.0
MAX_SUBSCRIPTIONS = 100


def is_stale(checked_at: float | None, updated_at: float | None, error: str, now: float) -> bool:
    """Due for an update: daily, or at each check while the last attempt failed or the
    content never loaded (added while offline, say)."""
    due = CHECK_S if error or updated_at is None else UPDATE_S
    return checked_at is None or now - checked_at >= due


class BlocklistUpdates:
    def __init__(
        self,
        loop: Loop,
        store: Store,
        state_dir: Path,
        local_dirs: tuple[Path, ...],
        on_matcher: Callable[[DomainMatcher], None],
        own_mark: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._own_mark = own_mark
        self._loop = loop
        self._store = store
        self._copies = state_dir / "blocklists"
        self._copies.mkdir(mode=0o700, exist_ok=True)
        self.local_dirs = local_dirs
        self._on_matcher = on_matcher
        self._clock = clock
        self._subscriptions = {b.id: b for b in store.blocklists()}
        self._entries: dict[int, ListEntries] = {}  # the worker's alone
        self._worker = Worker("blocklists")
        self._timer = loop.call_every(CHECK_S, self.update_stale)
        self._submit([(b, self._stale(b)) for b in self._subscriptions.values()])

    def close(self) -> None:
        Loop.cancel(self._timer)
        self._worker.close()

    # On the loop

    def subscriptions(self) -> list[Blocklist]:
        """Every subscription with its status, oldest first."""
        return list(self._subscriptions.values())

    def add(self, values: Mapping[str, Any]) -> Blocklist:
        """Subscribe (`BlocklistError` changes nothing); the list loads in the background."""
        fields = new_subscription(values, self.local_dirs)
        for known in self._subscriptions.values():
            if known.source == fields["source"]:
                raise BlocklistError(f"source: already subscribed (blocklist {known.id})")
        if len(self._subscriptions) >= MAX_SUBSCRIPTIONS:
            raise BlocklistError(f"at most {MAX_SUBSCRIPTIONS} blocklists")
        blocklist = self._store.add_blocklist(**fields)
        self._subscriptions[blocklist.id] = blocklist
        self._submit([(blocklist, True)])
        return blocklist

    def remove(self, blocklist_id: int) -> bool:
        """Unsubscribe; its names stop blocking once the matcher is rebuilt (at once)."""
        if self._subscriptions.pop(blocklist_id, None) is None:
            return False
        self._store.delete_blocklist(blocklist_id)
        self._submit([], forget=blocklist_id)
        return True

    def set_enabled(self, blocklist_id: int, enabled: bool) -> "Future[list[Blocklist]]":
        """Turn a subscription on or off (`Missing` if there is none). A list turned off
        blocks nothing and is not downloaded; turned on, it loads (downloaded if due). The
        Future holds the subscriptions once the new matcher is in use."""
        blocklist = self._subscriptions.get(blocklist_id)
        if blocklist is None:
            raise Missing(f"there is no blocklist {blocklist_id}")
        self._store.set_blocklist_enabled(blocklist_id, enabled)
        self._subscriptions[blocklist_id] = blocklist = replace(blocklist, enabled=enabled)
        return self._submit([(blocklist, self._stale(blocklist))])

    def update(self) -> "Future[list[Blocklist]]":
        """Read every enabled list again, downloading URL lists (conditionally); the
        Future holds the subscriptions once the new matcher is in use."""
        return self._submit([(b, True) for b in self._subscriptions.values()])

    def update_stale(self) -> None:
        """Update the enabled lists not checked for `UPDATE_S` (local ones are read again);
        a list turned off is never checked, so never counts."""
        stale = [(b, True) for b in self._subscriptions.values() if b.enabled and self._stale(b)]
        if stale:
            self._submit(stale)

    def _stale(self, blocklist: Blocklist) -> bool:
        return is_stale(blocklist.checked_at, blocklist.updated_at, blocklist.error,
                        self._clock())  # fmt: skip

    def _submit(
        self, blocklists: list[tuple[Blocklist, bool]], forget: int | None = None
    ) -> "Future[list[Blocklist]]":
        """Refresh `blocklists` ((subscription, whether to download it)) on the worker."""
        done: Future[list[Blocklist]] = Future()
        enabled = frozenset(b.id for b in self._subscriptions.values() if b.enabled)
        wanted = [(b, fetch) for b, fetch in blocklists if b.enabled]
        self._worker.submit(functools.partial(self._work, wanted, enabled, forget, done))
        return done

    def _apply(
        self, matcher: DomainMatcher | None, statuses: list[Blocklist], done: Future
    ) -> None:
        if matcher is not None:
            self._on_matcher(matcher)
            self._worker.submit(release_memory)  # the old matcher is freed: give its pages back
        try:
            for status in statuses:
                if status.id in self._subscriptions:  # not removed meanwhile
                    # (nor switched on or off: that is the later job's to apply)
                    enabled = self._subscriptions[status.id].enabled
                    self._subscriptions[status.id] = replace(status, enabled=enabled)
                    self._store.save_blocklist_status(status)
        except Exception as exc:  # the database refused: the caller hears why
            log.exception("saving the blocklists' status failed")
            done.set_exception(exc)
            return
        done.set_result(self.subscriptions())

    # On the worker thread

    def _work(
        self,
        blocklists: list[tuple[Blocklist, bool]],
        enabled: frozenset[int],
        forget: int | None,
        done: Future,
    ) -> None:
        try:
            if forget is not None:
                self._copy(forget).unlink(missing_ok=True)
            statuses = [self._refresh(blocklist, fetch) for blocklist, fetch in blocklists]
            dropped = set(self._entries) - enabled
            for gone in dropped:
                del self._entries[gone]
            matcher = None  # nothing read and nothing dropped: the matcher in use stays
            if blocklists or dropped:
                began = time.monotonic()
                matcher = DomainMatcher.merged(self._entries)
                log.debug("blocklists: %d names merged in %.3f s", len(matcher),
                          time.monotonic() - began)  # fmt: skip
        except Exception as exc:  # a bug must not leave the caller waiting
            log.exception("updating blocklists failed")
            done.set_exception(exc)
            return
        self._loop.call_soon(lambda: self._apply(matcher, statuses, done))

    def _refresh(self, blocklist: Blocklist, fetch: bool) -> Blocklist:
        now = self._clock()
        attempted = fetch or not is_url(blocklist.source)  # else only the copy is read
        checked: dict[str, Any] = {"checked_at": now} if attempted else {}
        try:
            if is_url(blocklist.source):
                status = self._refresh_url(blocklist, fetch, now)
            else:
                data = read_local(blocklist.source, self.local_dirs)
                status = self._take(blocklist, self._parsed(data), now)
        except (SourceError, OSError) as exc:
            log.warning("blocklist %d (%s) kept as it was: %s", blocklist.id, blocklist.source,
                        exc)  # fmt: skip
            return replace(blocklist, error=str(exc), **checked)
        except Exception as exc:  # one list's surprise must not stop the others
            log.exception("blocklist %d (%s) kept as it was", blocklist.id, blocklist.source)
            return replace(blocklist, error=f"internal error: {exc}", **checked)
        cleared: dict[str, Any] = {"error": ""} if attempted else {}
        return replace(status, **checked, **cleared)

    def _refresh_url(self, blocklist: Blocklist, fetch: bool, now: float) -> Blocklist:
        copy = self._copy(blocklist.id)
        if blocklist.id not in self._entries and copy.exists():
            blocklist = self._take(blocklist, self._parsed(copy.read_bytes()), now=None)
        if not fetch:
            return blocklist
        known = blocklist.id in self._entries
        got = download(blocklist.source, blocklist.etag if known else "",
                       blocklist.last_modified if known else "", self._own_mark)  # fmt: skip
        if got.data is None:
            log.info("blocklist %d (%s) not modified", blocklist.id, blocklist.source)
            return blocklist
        parsed = self._parsed(got.data)
        write_private(copy, got.data)
        log.info("blocklist %d (%s) downloaded: %s, %d names, %d networks", blocklist.id,
                 blocklist.source, parsed.format, len(parsed.entries.names),
                 parsed.entries.network_count)  # fmt: skip
        return replace(self._take(blocklist, parsed, now), etag=got.etag,
                       last_modified=got.last_modified)  # fmt: skip

    def _take(self, blocklist: Blocklist, parsed: ParsedList, now: float | None) -> Blocklist:
        self._entries[blocklist.id] = entries = parsed.entries
        updated_at = blocklist.updated_at if now is None else now
        return replace(
            blocklist,
            domains=len(entries.names),
            networks=entries.network_count,
            format=parsed.format,
            accepted=parsed.accepted,
            ignored=parsed.ignored,
            rejected=parsed.rejected,
            skipped=parsed.skipped,
            updated_at=updated_at,
        )

    @staticmethod
    def _parsed(data: bytes) -> ParsedList:
        if b"\0" in data:
            raise SourceError("not a text file")
        parsed = parse_list(data)
        if not parsed.accepted and parsed.skipped:
            raise SourceError(
                f"no host names or networks in it (read as {parsed.format}: {parsed.summary()})"
            )
        return parsed

    def _copy(self, blocklist_id: int) -> Path:
        return self._copies / f"{blocklist_id}.list"
