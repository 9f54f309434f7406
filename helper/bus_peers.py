"""Clients of the helper known by their unique bus name, and signals sent to them alone.

Prompt agents and traffic watchers subscribe with a call; they are forgotten when they
unsubscribe or leave the bus (the bus tells, through a name-owner watch), so nothing is
ever sent to a name that a later client might be given.
"""

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

import dbus
import dbus.lowlevel

from netwarden_helper.api import INTERFACE, OBJECT_PATH

T = TypeVar("T")


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
            self._watches[name] = self._connection.watch_name_owner(
                name, lambda owner: owner or self.remove(name)
            )

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

    def __bool__(self) -> bool:
        return bool(self._peers)

    def send(self, name: str, member: str, signature: str, *args: Any) -> None:
        """Send signal `member` of the helper's interface to `name` only."""
        message = dbus.lowlevel.SignalMessage(OBJECT_PATH, INTERFACE, member)
        message.set_destination(name)
        message.append(*args, signature=signature)
        self._connection.send_message(message)
