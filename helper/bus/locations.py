"""Where in the world over the bus: LocateAddresses, GetLocationDatabase,
UpdateLocationDatabase.

Look-ups and the database's state need the monitor action (an address says nothing of
anyone's programs); a download on demand is a change for everyone, like the settings
that turn the database on and name its source, so it needs the settings action.
"""

from concurrent.futures import Future
from typing import Any

import dbus

from netwarden_common.api import ACTION_MONITOR, ACTION_SETTINGS
from netwarden_common.dbus_values import dictionary, plain
from netwarden_helper.bus.authorization import Caller, authorized_method
from netwarden_helper.bus.peers import Signals
from netwarden_helper.bus.replies import converted
from netwarden_helper.geo.updates import LocationUpdates


class LocationMethods:
    def __init__(self, locations: LocationUpdates, signals: Signals) -> None:
        self._locations = locations
        self._signals = signals

    def database_changed(self, state: dict[str, Any]) -> None:
        self._signals.send("LocationDatabaseChanged", "a{sv}", dictionary(state))

    @authorized_method(ACTION_MONITOR, in_signature="as", out_signature="aa{sv}")
    def LocateAddresses(self, caller: Caller, addresses: dbus.Array) -> dbus.Array:
        """The place of each address (at most 1024), in order: address, kind ("local" for
        this network, "city", "country" or "unknown"), and those of country_code,
        country, city, latitude, longitude the database has. Looked up in the helper's
        own file: nothing leaves the machine."""
        found = self._locations.locate(plain(addresses))
        return dbus.Array([dictionary(place) for place in found], signature="a{sv}")

    @authorized_method(ACTION_MONITOR, out_signature="a{sv}")
    def GetLocationDatabase(self, caller: Caller) -> dbus.Dictionary:
        """The location database: enabled, source, loaded, database_type, description,
        built_at, url, checked_at, updated_at, error."""
        return dictionary(self._locations.state())

    @authorized_method(ACTION_SETTINGS, out_signature="a{sv}")
    def UpdateLocationDatabase(self, caller: Caller) -> Future:
        """Download the database again if it changed; replies with its state once the new
        one is in use, or with the reason it was kept."""
        return converted(self._locations.update(), dictionary)
