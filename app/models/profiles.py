"""`ProfilesModel`: the helper's profiles, the active one and the network, and switching.

Read with ListProfiles when the helper appears and taken from each ProfilesChanged (which
tells why: "user", "network" or "edited"). A switch the network made is announced with
`switched`, for the app to show. Switching is an administrator's action (polkit); a
refusal comes back as `failed` with the helper's message.
"""

from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1


@QmlElement
@QmlUncreatable("ProfilesModel is made by the app")
class ProfilesModel(HelperBound, QObject):
    """The profiles as the helper has them."""

    changed = Signal()
    failed = Signal(str)
    switched = Signal(str)  # what to tell the user, when the network switched the profile

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state: dict[str, Any] = {}
        client.on_signal("ProfilesChanged", self._changed)
        self._bind_helper(client)

    @Property(str, notify=changed)
    def active(self) -> str:
        """The active profile's name; "" for none (only every profile's rules)."""
        return str(self._state.get("active", ""))

    @Property(list, notify=changed)
    def names(self) -> list[str]:
        return [str(p["name"]) for p in self._state.get("profiles", [])]

    @Property(list, notify=changed)
    def profiles(self) -> list[dict]:
        """Each profile: name, uuid, ssid (the network it claims) and its rule count."""
        return list(self._state.get("profiles", []))

    @Property("QVariantMap", notify=changed)
    def network(self) -> dict:
        """The primary connection (id, uuid, type, ssid); empty when unknown."""
        return dict(self._state.get("network", {}))

    @Slot(str)
    def use(self, name: str) -> None:
        """Make `name` the active profile ("" for none)."""
        self._client.call("SetActiveProfile", "s", (name,), self._load, self._failed)

    @Slot(str, str, str)
    def add(self, name: str, uuid: str, ssid: str) -> None:
        values = to_dbus_options({"name": name, "uuid": uuid, "ssid": ssid})
        self._client.call("AddProfile", "a{sv}", (values,), self._load, self._failed)

    @Slot(str)
    def claimCurrentNetwork(self, name: str) -> None:
        """Switch to profile `name` whenever the current connection is the primary one."""
        values = to_dbus_options({"uuid": self.network.get("uuid", "")})
        self._client.call("UpdateProfile", "sa{sv}", (name, values), self._load, self._failed)

    @Slot(str, bool)
    def remove(self, name: str, delete_rules: bool) -> None:
        values = to_dbus_options({"delete_rules": delete_rules})
        self._client.call("RemoveProfile", "sa{sv}", (name, values), self._load, self._failed)

    def _helper_appeared(self) -> None:
        self._client.call("ListProfiles", "", (), self._load, self._failed)

    def _changed(self, state: dict) -> None:
        before = self.active
        self._load(state)
        if state.get("reason") == "network" and self.active != before:
            where = self.network.get("id") or "no network"
            self.switched.emit(f"Profile {self.active or 'none'}: connected to {where}")

    def _load(self, state: dict) -> None:
        self._state = state
        self.changed.emit()

    def _failed(self, error: HelperCallError) -> None:
        self.failed.emit(error.message)
        self.changed.emit()
