"""`ProfilesModel`: the helper's profiles (a row each), the active one and the network,
and the changes the window and the tray make to them.

Read with ListProfiles when the helper appears and taken from each ProfilesChanged (which
tells why: "user", "network" or "edited"); rows are applied by name (`RowModel.sync`). A
switch the network made is announced with `switched`, for the app to show. Every change
is an administrator's action (polkit); a refusal comes back as `failed` with the
helper's message, and `changed` is emitted so that a switcher shows the active profile
again, not the click. `namesChanged` only when the names do: what lists them (a combo
box's model) is not reset, nor an open list closed, at every network event.
"""

from typing import Any

from PySide6.QtCore import Property, QObject, Signal, Slot
from PySide6.QtQml import QmlElement, QmlUncreatable

from netwarden.client.helper_bound import HelperBound
from netwarden.client.helper_client import HelperCallError, HelperClient, to_dbus_options
from netwarden.models.row_model import RowModel

QML_IMPORT_NAME = "Netwarden.Backend"
QML_IMPORT_MAJOR_VERSION = 1


def claim_text(uuid: str, ssid: str) -> str:
    """The network a profile switches on, for people ("" for none)."""
    if ssid:
        return f"Wi-Fi “{ssid}”"
    return f"connection {uuid}" if uuid else ""


def profile_row(profile: dict, active: str) -> dict:
    uuid, ssid = str(profile.get("uuid", "")), str(profile.get("ssid", ""))
    return {
        "name": str(profile["name"]),
        "uuid": uuid,
        "ssid": ssid,
        "claims": claim_text(uuid, ssid),
        "rules": int(profile.get("rules", 0)),
        "active": profile["name"] == active,
    }


@QmlElement
@QmlUncreatable("ProfilesModel is made by the app")
class ProfilesModel(HelperBound, RowModel):
    """The profiles as the helper has them, oldest first."""

    ROLES = ("name", "uuid", "ssid", "claims", "rules", "active")
    KEY = "name"

    changed = Signal()
    namesChanged = Signal()
    failed = Signal(str)
    switched = Signal(str)  # what to tell the user, when the network switched the profile

    def __init__(self, client: HelperClient, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._state: dict[str, Any] = {}
        self._names: list[str] = []
        client.on_signal("ProfilesChanged", self._changed)
        self._bind_helper(client)

    @Property(str, notify=changed)
    def active(self) -> str:
        """The active profile's name; "" for none (only every profile's rules)."""
        return str(self._state.get("active", ""))

    @Property(list, notify=namesChanged)
    def names(self) -> list[str]:
        return self._names

    @Property("QVariantMap", notify=changed)
    def network(self) -> dict:
        """The primary connection (id, uuid, type, ssid); empty when unknown."""
        return dict(self._state.get("network", {}))

    @Slot(str)
    def use(self, name: str) -> None:
        """Make `name` the active profile ("" for none)."""
        self._call("SetActiveProfile", "s", name)

    @Slot(str, str, str)
    def add(self, name: str, uuid: str, ssid: str) -> None:
        """Add profile `name`, switched to on connection `uuid` or Wi-Fi `ssid` ("": no)."""
        self._call("AddProfile", "a{sv}", to_dbus_options({"name": name, "uuid": uuid,
                                                            "ssid": ssid}))  # fmt: skip

    @Slot(str, str)
    def rename(self, name: str, new_name: str) -> None:
        self._call("RenameProfile", "ss", name, new_name)

    @Slot(str, str, str)
    def claim(self, name: str, uuid: str, ssid: str) -> None:
        """Switch to profile `name` on connection `uuid` or Wi-Fi `ssid` ("" both: never)."""
        values = to_dbus_options({"uuid": uuid, "ssid": ssid})
        self._call("UpdateProfile", "sa{sv}", name, values)

    @Slot(str)
    def claimCurrentNetwork(self, name: str) -> None:
        """Switch to profile `name` whenever the current connection is the primary one."""
        self.claim(name, self.network.get("uuid", ""), "")

    @Slot(str, bool)
    def remove(self, name: str, delete_rules: bool) -> None:
        """Remove profile `name`; one with rules only with `delete_rules` (they go too)."""
        values = to_dbus_options({"delete_rules": delete_rules})
        self._call("RemoveProfile", "sa{sv}", name, values)

    def _call(self, method: str, signature: str, *args: Any) -> None:
        self._client.call(method, signature, args, self._load, self._failed)

    def _helper_appeared(self) -> None:
        self._call("ListProfiles", "")

    def _helper_gone(self) -> None:
        self._load({})

    def _changed(self, state: dict) -> None:
        before = self.active
        self._load(state)
        if state.get("reason") == "network" and self.active != before:
            where = self.network.get("id") or "no network"
            self.switched.emit(f"Profile {self.active or 'none'}: connected to {where}")

    def _load(self, state: dict) -> None:
        self._state = state
        active = self.active
        self.sync([profile_row(p, active) for p in state.get("profiles", [])])
        names = [row["name"] for row in self._rows]
        if names != self._names:
            self._names = names
            self.namesChanged.emit()
        self.changed.emit()

    def _failed(self, error: HelperCallError) -> None:
        if not error.helper_absent:  # the pages say so (NotConnected)
            self.failed.emit(error.message)
        self.changed.emit()
