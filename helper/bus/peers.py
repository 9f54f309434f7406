"""Clients of the helper known by their unique bus name, and signals sent on the bus.

Prompt agents and traffic watchers subscribe with a call; they are forgotten when they
unsubscribe or leave the bus (the bus tells, through a name-owner watch), so nothing is
ever sent to a name that a later client might be given. Signals named in the interface
of the exported object (`bus/service.py`) are sent with `Signals`: to one name (unicast),
or to the whole bus.
"""

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import dbus
import dbus.lowlevel

from netwarden_common.api import INTERFACE, OBJECT_PATH

T = TypeVar("T")


class Signals:
    """Sends the helper's signals on one connection."""

    def __init__(self, connection: dbus.connection.Connection) -> None:
        self.connection = connection

    def send(self, member: str, signature: str, *args: Any, to: str | None = None) -> None:
        """Send signal `member` to `to` only, or to the whole bus when `to` is None."""
        message = dbus.lowlevel.SignalMessage(OBJECT_PATH, INTERFACE, member)
        if to is not None:
            message.set_destination(to)
        message.append(*args, signature=signature)
        self.connection.send_message(message)


class BusPeers(Generic[T]):
    """Subscribed clients, each with what it subscribed for (`T`)."""

    def __init__(self, connection: dbus.connection.Connection,
                 on_left: Callable[[str], None] = lambda name: None) -> None:  # fmt: skip
        self._connection = connection
        self._on_left = on_left
        self._peers: dict[str, T] = {}
        self._watches: dict[str, Any] = {}

    def add(self, name: str, value: T) -> None:
        self._peers[name] = value
        if name not in self._watches:

            def owner_changed(owner: str) -> None:
                if not owner:  # the name left the bus
                    self.remove(name)

            self._watches[name] = self._connection.watch_name_owner(name, owner_changed)

    def remove(self, name: str) -> None:
        self._peers.pop(name, None)
        watch = self._watches.pop(name, None)
        if watch is not None:
            watch.cancel()
        self._on_left(name)

    def get(self, name: str) -> T | None:
        return self._peers.get(name)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(list(self._peers.items()))

    def names(self) -> list[str]:
        return list(self._peers)

    def __bool__(self) -> bool:
        return bool(self._peers)
