"""Blocklists over the bus: subscriptions and their updates.

Listing needs
the monitor action; subscribing, unsubscribing and asking for an update change what is
blocked for everyone, so they need manage-rules. Updates run on the blocklists' worker
thread; `UpdateBlocklists` replies once the new lists are in use.
"""

from concurrent.futures import Future

import dbus

from netwarden_common.api import ACTION_MANAGE_RULES, ACTION_MONITOR
from netwarden_common.dbus_values import dictionary, plain
from netwarden_common.errors import Missing
from netwarden_helper.blocklists.subscriptions import Blocklist
from netwarden_helper.blocklists.updates import BlocklistUpdates
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.records import blocklist_record


def _records(blocklists: list[Blocklist]) -> dbus.Array:
    return dbus.Array([dictionary(blocklist_record(b)) for b in blocklists], signature="a{sv}")


class BlocklistMethods:
    def __init__(self, updates: BlocklistUpdates) -> None:
        self._blocklists = updates

    @authorized_method(ACTION_MONITOR, out_signature="aa{sv}")
    def ListBlocklists(self, caller: Caller) -> dbus.Array:
        """Every subscription with the state of its list, oldest first."""
        return _records(self._blocklists.subscriptions())

    @authorized_method(ACTION_MANAGE_RULES, in_signature="a{sv}", out_signature="a{sv}")
    def AddBlocklist(self, caller: Caller, values: dbus.Dictionary) -> dbus.Dictionary:
        """Subscribe to a blocklist: source (s: http(s) URL, or a file in the blocklists
        folders), name (s), enabled (b, default true). Returns the subscription; the list
        loads in the background (see ListBlocklists)."""
        return dictionary(blocklist_record(self._blocklists.add(plain(values))))

    @authorized_method(ACTION_MANAGE_RULES, in_signature="t")
    def RemoveBlocklist(self, caller: Caller, blocklist_id: int) -> None:
        """Unsubscribe; its names stop blocking at once."""
        if not self._blocklists.remove(int(blocklist_id)):
            raise Missing(f"there is no blocklist {blocklist_id}")

    @authorized_method(ACTION_MANAGE_RULES, out_signature="aa{sv}")
    def UpdateBlocklists(self, caller: Caller) -> Future:
        """Read every enabled list again, downloading URL lists (If-None-Match,
        If-Modified-Since); replies with every subscription once the lists are in use."""
        replied: Future = Future()

        def updated(done: Future) -> None:
            try:
                replied.set_result(_records(done.result()))
            except Exception as exc:  # the update failed: the caller hears why
                replied.set_exception(exc)

        self._blocklists.update().add_done_callback(updated)
        return replied
