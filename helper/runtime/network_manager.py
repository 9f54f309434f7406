"""`NetworkWatch`: NetworkManager's primary connection, followed through its D-Bus API.

No polling: it listens to NetworkManager's PropertiesChanged signal on the system bus
(PrimaryConnection, ActiveConnections) and to its name's owner, and reads the primary
connection's Id, Uuid and Type, and for Wi-Fi its access point's Ssid, with asynchronous
calls on the loop. Without NetworkManager on the bus it says so in the log and reports
no network; it starts following once NetworkManager appears.
"""

import logging
from collections.abc import Callable
from typing import Any

import dbus

from netwarden_common.profiles import Network

log = logging.getLogger(__name__)

NM = "org.freedesktop.NetworkManager"
NM_PATH = "/org/freedesktop/NetworkManager"
ACTIVE = "org.freedesktop.NetworkManager.Connection.Active"
ACCESS_POINT = "org.freedesktop.NetworkManager.AccessPoint"
PROPERTIES = "org.freedesktop.DBus.Properties"
WIFI = "802-11-wireless"
_WATCHED = ("PrimaryConnection", "ActiveConnections")


class NetworkWatch:
    """Tells `on_change` the primary connection (None: none) whenever it changes."""

    def __init__(self, bus: dbus.Bus, on_change: Callable[[Network | None], None]) -> None:
        self._bus = bus
        self._on_change = on_change
        self._reading = 0  # the latest read; an older one's answer is dropped
        self._receiver = bus.add_signal_receiver(
            self._properties_changed, "PropertiesChanged", PROPERTIES, NM, NM_PATH
        )
        self._owner = bus.watch_name_owner(NM, self._owner_changed)

    def close(self) -> None:
        self._receiver.remove()
        self._owner.cancel()

    def _owner_changed(self, owner: str) -> None:
        if owner:
            log.info("following NetworkManager's primary connection for profiles")
            self._call(NM_PATH, "Get", "ss", (NM, "PrimaryConnection"), self._read_connection)
        else:
            log.info("NetworkManager is not on the system bus: profiles switch only by hand")
            self._reading += 1
            self._on_change(None)

    def _properties_changed(self, interface: str, changed: dict, _invalidated: list) -> None:
        if interface != NM or not any(name in changed for name in _WATCHED):
            return
        if "PrimaryConnection" in changed:
            self._read_connection(changed["PrimaryConnection"])
        else:  # the primary connection may have been re-activated: read it again
            self._call(NM_PATH, "Get", "ss", (NM, "PrimaryConnection"), self._read_connection)

    def _read_connection(self, path: str) -> None:
        self._reading += 1
        reading = self._reading
        if path == "/":
            self._on_change(None)
            return

        def read(values: dict) -> None:
            network = Network(str(values.get("Id", "")), str(values.get("Uuid", "")),
                              str(values.get("Type", "")))  # fmt: skip
            access_point = str(values.get("SpecificObject", "/"))
            if network.type != WIFI or access_point == "/":
                self._report(reading, network)
                return
            self._call(access_point, "Get", "ss", (ACCESS_POINT, "Ssid"),
                       lambda ssid: self._report(reading, Network(
                           network.id, network.uuid, network.type,
                           bytes(ssid).decode("utf-8", "replace"))))  # fmt: skip

        self._call(path, "GetAll", "s", (ACTIVE,), read)

    def _report(self, reading: int, network: Network) -> None:
        if reading == self._reading:
            log.info("primary connection: %r (%s)", network.id, network.type)
            self._on_change(network)

    def _call(self, path: str, method: str, signature: str, args: tuple,
              on_reply: Callable[[Any], None]) -> None:  # fmt: skip
        self._bus.call_async(
            NM, path, PROPERTIES, method, signature, args, on_reply,
            lambda exc: log.warning("NetworkManager: %s failed: %s", method,
                                    exc.get_dbus_message()),
        )  # fmt: skip
