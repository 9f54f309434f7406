"""Per-flow byte accounting: conntrack counters matched to the flows Netwarden decided.

Pure bookkeeping (no netlink, no SQLite), run on the helper's loop. An allowed TCP/UDP
flow is tracked by its five-tuple from its verdict on; the first conntrack entry seen
with that tuple gives the flow its conntrack id, and from then on only entries with that
id count (a later connection reusing the tuple is a new flow, tracked anew when the
packet path decides it). Each update turns counter growth into `BytesSample`s; a flow
leaves the books when conntrack destroys it, closes it, or never shows it at all.
"""

from dataclasses import dataclass

from netwarden_helper.records.conntrack import CtEntry, FlowKey
from netwarden_helper.records.flows import BytesSample, FlowRecord

NEVER_SEEN_S = 30.0  # a tracked flow conntrack never showed (refused later) is forgotten


@dataclass
class TrackedFlow:
    """A flow being accounted: its history record and the counters counted so far."""

    record: FlowRecord
    ct_id: int | None = None
    bytes_out: int = 0
    bytes_in: int = 0
    open: bool = True


class FlowAccounting:
    def __init__(self) -> None:
        self._flows: dict[FlowKey, TrackedFlow] = {}

    def __len__(self) -> int:
        return len(self._flows)

    def track(self, key: FlowKey, record: FlowRecord) -> None:
        """Start accounting the flow `record` whose original tuple is `key`."""
        self._flows[key] = TrackedFlow(record)

    def update(self, entries: list[CtEntry], now: float, complete: bool) -> list[BytesSample]:
        """Apply conntrack entries: a whole dump (`complete`) or destroy events.

        Returns the bytes moved since the last update, per flow. After a complete dump,
        tracked flows it did not show are over (their destroy event was lost) or never
        started (refused further along), and are forgotten.
        """
        samples = []
        shown = set()
        for entry in entries:
            tracked = self._flows.get(entry.key)
            if tracked is None:
                continue
            if tracked.ct_id is None:
                tracked.ct_id = entry.ct_id
            elif tracked.ct_id != entry.ct_id:
                continue  # an older connection that had the same tuple
            shown.add(entry.key)
            grew_out = max(0, entry.bytes_out - tracked.bytes_out)
            grew_in = max(0, entry.bytes_in - tracked.bytes_in)
            if grew_out or grew_in:
                tracked.bytes_out += grew_out
                tracked.bytes_in += grew_in
                record = tracked.record
                samples.append(BytesSample(record.id, record.program,
                                           record.host or record.destination, now,
                                           grew_out, grew_in))  # fmt: skip
            tracked.open = entry.open
            if not complete:  # a destroy event: this is the flow's last word
                del self._flows[entry.key]
        if complete:
            for key, tracked in list(self._flows.items()):
                if key not in shown and (
                    tracked.ct_id is not None or now - tracked.record.time > NEVER_SEEN_S
                ):
                    del self._flows[key]
        return samples

    def live(self) -> list[TrackedFlow]:
        """Flows conntrack shows open now, oldest first."""
        return [t for t in self._flows.values() if t.open and t.ct_id is not None]
