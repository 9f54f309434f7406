"""Blocklists over the bus: subscriptions, their updates, and how many flows each blocked.

Listing needs the monitor action; subscribing, unsubscribing, turning a list on or off
and asking for an update change what is blocked for everyone, so they need
manage-rules. Updates run on the blocklists' worker thread; `UpdateBlocklists` and
`SetBlocklistEnabled` reply once the new lists are in use. `BlocklistHitsChanged` is
broadcast every few seconds while lists block flows.
"""

from concurrent.futures import Future

import dbus

from netwarden_common.api import ACTION_MANAGE_RULES, ACTION_MONITOR
from netwarden_common.dbus_values import dictionary, plain
from netwarden_common.errors import Missing
from netwarden_helper.blocklists.hits import BlocklistHits
from netwarden_helper.blocklists.subscriptions import Blocklist
from netwarden_helper.blocklists.updates import BlocklistUpdates
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.peers import Signals
from netwarden_helper.bus.records import blocklist_record, hit_counts
from netwarden_helper.bus.replies import converted


class BlocklistMethods:
    def __init__(self, updates: BlocklistUpdates, hits: BlocklistHits, signals: Signals) -> None:
        self._blocklists = updates
        self._hits = hits
        self._signals = signals

    def hits_changed(self, totals: dict[int, tuple[int, float]]) -> None:
        self._signals.send("BlocklistHitsChanged", "a(txd)", hit_counts(totals))

    def _record(self, blocklist: Blocklist) -> dbus.Dictionary:
        return dictionary(blocklist_record(blocklist, self._hits.of(blocklist.id)))

    def _records(self, blocklists: list[Blocklist]) -> dbus.Array:
        return dbus.Array([self._record(b) for b in blocklists], signature="a{sv}")

    @authorized_method(ACTION_MONITOR, out_signature="aa{sv}")
    def ListBlocklists(self, caller: Caller) -> dbus.Array:
        """Every subscription with the state of its list, oldest first."""
        return self._records(self._blocklists.subscriptions())

    @authorized_method(ACTION_MANAGE_RULES, in_signature="a{sv}", out_signature="a{sv}")
    def AddBlocklist(self, caller: Caller, values: dbus.Dictionary) -> dbus.Dictionary:
        """Subscribe to a blocklist: source (s: http(s) URL, or a file in the blocklists
        folders), name (s), enabled (b, default true). Returns the subscription; the list
        loads in the background (see ListBlocklists)."""
        return self._record(self._blocklists.add(plain(values)))

    @authorized_method(ACTION_MANAGE_RULES, in_signature="t")
    def RemoveBlocklist(self, caller: Caller, blocklist_id: int) -> None:
        """Unsubscribe; its names stop blocking at once."""
        if not self._blocklists.remove(int(blocklist_id)):
            raise Missing(f"there is no blocklist {blocklist_id}")

    @authorized_method(ACTION_MANAGE_RULES, in_signature="tb", out_signature="a{sv}")
    def SetBlocklistEnabled(self, caller: Caller, blocklist_id: int, enabled: bool) -> Future:
        """Turn a subscription on or off, keeping it: off, it blocks nothing and is not
        downloaded. Replies with the subscription once the lists in use follow."""
        listed = int(blocklist_id)

        def reply(subscriptions: list[Blocklist]) -> dbus.Dictionary:
            for blocklist in subscriptions:
                if blocklist.id == listed:
                    return self._record(blocklist)
            raise Missing(f"there is no blocklist {listed}")  # removed meanwhile

        return converted(self._blocklists.set_enabled(listed, bool(enabled)), reply)

    @authorized_method(ACTION_MANAGE_RULES, out_signature="aa{sv}")
    def UpdateBlocklists(self, caller: Caller) -> Future:
        """Read every enabled list again, downloading URL lists (If-None-Match,
        If-Modified-Since); replies with every subscription once the lists are in use."""
        return converted(self._blocklists.update(), self._records)
