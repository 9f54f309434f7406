"""`BlocklistHits`: how many flows each blocklist blocked, and when it last did.

Counted on the loop as flows are denied, gathered in memory and written with the rules'
hit counts (`RuleBook.flush_hits`, every few seconds and at stop), so they are kept
across restarts the same way; `changed` then tells the new totals of the lists hit.
"""

import time
from collections.abc import Callable

from netwarden_helper.runtime.events import Event
from netwarden_helper.storage.store import Store

Hits = tuple[int, float | None]  # count, last hit (None: never)


class BlocklistHits:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._totals: dict[int, Hits] = store.blocklist_hits()
        self._pending: dict[int, tuple[int, float]] = {}
        # {list id: (hits, last hit)} of the lists hit since the last time, once stored
        self.changed: Event[[dict[int, tuple[int, float]]]] = Event()

    def count(self, blocklist_id: int) -> None:
        count, _last = self._pending.get(blocklist_id, (0, 0.0))
        self._pending[blocklist_id] = (count + 1, self._clock())

    def of(self, blocklist_id: int) -> Hits:
        """The hits of list `blocklist_id` as of now, those not yet stored included."""
        stored, last = self._totals.get(blocklist_id, (0, None))
        pending, pending_last = self._pending.get(blocklist_id, (0, None))
        return stored + pending, pending_last or last

    def flush(self) -> None:
        """Store the hits counted since the last flush (one transaction), then tell."""
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        self._store.record_blocklist_hits(pending)
        told = {}
        for blocklist_id, (count, last) in pending.items():
            stored, _ = self._totals.get(blocklist_id, (0, None))
            self._totals[blocklist_id] = told[blocklist_id] = (stored + count, last)
        self.changed.emit(told)
