"""`SocketTraffic`: the bytes of this host's flows as the data plane counts them.

With the eBPF data plane, the flows the helper accounts are named in its `traffic` map
(`account`, when a flow is allowed; the kernel names those it allowed itself), and its
cgroup_skb programs add each packet's length there. `read` turns the map into the same
`CtEntry`s a conntrack dump gives (`accounting.FlowAccounting` takes either), and costs
one map lookup when nothing changed, so an idle helper reads nothing however many
connections are open. A flow is over when its socket is released; a datagram flow also
after `IDLE_S` without a packet (an unconnected socket sends to many places), and a flow
that never moved a byte (refused further along) after `NEVER_SEEN_S`. Its last counts
are read for `CLOSED_SHOWN_S` more (the helper may hear of a flow the kernel allowed only
after it ended), then it leaves the map.
"""

import logging
import time

from netwarden_helper.data_plane.plane import DataPlane
from netwarden_helper.data_plane.records import (
    key_tuple,
    traffic_counts,
    traffic_value,
    tuple_key,
)
from netwarden_helper.packet_path.packet import UDP
from netwarden_helper.records.accounting import NEVER_SEEN_S
from netwarden_helper.records.conntrack import CtEntry

log = logging.getLogger(__name__)

IDLE_S = 180.0  # conntrack keeps a UDP stream this long (nf_conntrack_udp_timeout_stream)
CLOSED_SHOWN_S = 2.0  # how long a closed flow stays in the map, read, before it goes


class SocketTraffic:
    def __init__(self, data_plane: DataPlane) -> None:
        self._data_plane = data_plane
        self._changes = -1
        self._wake_at = 0.0  # when an open flow may end without a change (monotonic s)
        self._full = False  # the last flow could not be named: the map was full
        self._ended: dict[bytes, float] = {}  # flows seen closed, and since when
        # each open flow's counts when last read, and when they last changed
        self._last: dict[bytes, tuple[bytes, float]] = {}

    def account(self, five_tuple: tuple) -> None:
        """Count the bytes of this flow from now on (if the kernel did not start already)."""
        try:
            self._data_plane.account(tuple_key(five_tuple), traffic_value(time.monotonic_ns()))
        except OSError as exc:  # the map is full: this flow's bytes go uncounted
            if not self._full:  # said once a time, not once a flow
                log.warning("the bytes of new flows cannot be counted for now: %s", exc)
            self._full = True
        else:
            self._full = False

    def read(self) -> list[CtEntry] | None:
        """Every accounted flow's counts, None when nothing changed since the last read.
        A flow over is in it one last time (not open), then forgotten."""
        changes = self._data_plane.traffic_changes()
        now = time.monotonic()
        if changes == self._changes and now < self._wake_at:
            return None
        self._changes = changes
        entries, last, ended_now, wake_at = [], {}, {}, float("inf")
        for key, value in self._data_plane.traffic():
            bytes_out, bytes_in, since_ns, closed = traffic_counts(value)
            flow = key_tuple(key)
            before = self._last.get(key)
            changed = now if before is None or before[0] != value else before[1]
            quiet = now - changed
            if (flow[0] == UDP and quiet > IDLE_S) or (
                not bytes_out and not bytes_in and quiet > NEVER_SEEN_S
            ):
                closed = True
            entries.append(CtEntry(flow, since_ns, bytes_out, bytes_in, not closed))
            if closed:
                # shown closed a little longer before it goes: a flow the kernel allowed is
                # named here by the kernel, and the helper may hear of it only after its end
                ended = self._ended.get(key, now)
                if now - ended >= CLOSED_SHOWN_S:
                    self._data_plane.stop_accounting(key, since_ns)
                    continue
                ended_now[key] = ended
                wake_at = min(wake_at, ended + CLOSED_SHOWN_S)
                continue
            last[key] = (value, changed)
            if flow[0] == UDP:
                wake_at = min(wake_at, changed + IDLE_S)
            if not bytes_out and not bytes_in:
                wake_at = min(wake_at, changed + NEVER_SEEN_S)
        self._last, self._ended, self._wake_at = last, ended_now, wake_at
        return entries
